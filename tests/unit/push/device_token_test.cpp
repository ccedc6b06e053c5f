// Tests for src/push/device_token.cpp: the shapes a registration may store.
#include <doctest/doctest.h>

#include "push/device_token.hpp"

using namespace pushgate;

TEST_CASE("an APNs token is an even number of hex digits, 64 to 200") {
  CHECK(check_registration_token(ServiceKind::Apns, std::string(64, 'a')));
  CHECK(check_registration_token(ServiceKind::Apns, std::string(200, 'F')));
  for (const std::string& bad : {std::string(62, 'a'), std::string(65, 'a'), std::string(202, 'a'),
                                 std::string(4096, 'a'), std::string(63, 'a') + "g", std::string()}) {
    auto checked = check_registration_token(ServiceKind::Apns, bad);
    REQUIRE_FALSE(checked.ok());
    std::string problem = checked.error().message();
    CHECK(problem.find("64 to 200") != std::string::npos);
    CHECK(problem.find(std::to_string(bad.size()) + " characters") != std::string::npos);
  }
}

TEST_CASE("an FCM token is 32 to 1024 URL-safe characters at registration") {
  CHECK(check_registration_token(ServiceKind::Fcm, "cX9v:APA91b" + std::string(152, 'x')));
  CHECK(check_registration_token(ServiceKind::Fcm, std::string(1024, '-')));
  CHECK(is_fcm_token(std::string(1025, 'a')));  // a push still takes it (token-as-node)
  for (const std::string& bad :
       {std::string(1025, 'a'), std::string(31, 'a'), std::string(40, 'a') + " x", std::string(40, 'a') + "<"}) {
    auto checked = check_registration_token(ServiceKind::Fcm, bad);
    REQUIRE_FALSE(checked.ok());
    CHECK(checked.error().message().find("32 to 1024") != std::string::npos);
  }
}
