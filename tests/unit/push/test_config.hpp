// A Config for dispatcher and provider tests, built in code (no files, no secrets on disk).
#pragma once

#include "config/config.hpp"

namespace pushgate::test {

inline Config two_app_config() {
  Config c;
  c.component.jid = "push.example.org";
  c.component.secret = "component-secret";
  AppConfig ios;
  ios.name = "ios";
  ios.service = ServiceKind::Log;
  ios.secret = "ios-secret";
  AppConfig android;
  android.name = "android";
  android.service = ServiceKind::Log;
  android.secret = "android-secret";
  c.apps = {ios, android};
  return c;
}

}  // namespace pushgate::test
