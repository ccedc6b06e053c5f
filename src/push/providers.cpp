// Provider construction from the validated configuration.
#include "push/providers.hpp"

#include <algorithm>
#include <stdexcept>

#include "common/keys.hpp"
#include "common/log.hpp"
#include "push/apns_provider.hpp"
#include "push/fcm_provider.hpp"
#include "push/log_provider.hpp"

namespace pushgate {

ProviderSet make_providers(EventLoop& loop, const std::vector<AppConfig>& apps, std::size_t queue_size) {
  ProviderSet set;
  Http2ClientOptions http_options;
  http_options.max_connections = 1;
  for (const AppConfig& app : apps) {
    if (app.service != ServiceKind::Apns && app.service != ServiceKind::Fcm) continue;
    http_options.max_connections = std::max<std::size_t>(http_options.max_connections, app.max_connections);
    http_options.connection.ping_interval =
        std::min(http_options.connection.ping_interval, std::chrono::milliseconds(app.ping_interval * 1000));
  }
  for (const AppConfig& app : apps) {
    switch (app.service) {
      case ServiceKind::Log:
        set.providers.push_back(std::make_unique<LogProvider>(loop, app.output, queue_size));
        log::info("app_ready", {{"app", app.name}, {"service", "log"}, {"output", app.output.empty() ? "stdout" : app.output}});
        break;
      case ServiceKind::Apns: {
        if (!set.http) set.http = std::make_unique<Http2Client>(loop, http_options);
        std::string id = app.team_id + "/" + app.key_id + "/" + app.key_file;
        auto& signer = set.signers[id];
        if (!signer) {
          try {
            signer = std::make_shared<ApnsTokenSigner>(load_apns_p8_key(app.key_file), app.key_id, app.team_id);
          } catch (const KeyError& e) {
            throw std::runtime_error("[[app]] '" + app.name + "': " + e.what());
          }
        }
        set.providers.push_back(std::make_unique<ApnsProvider>(loop, *set.http, signer, app));
        log::info("app_ready", {{"app", app.name}, {"service", "apns"}, {"topic", app.topic},
                                {"environment", to_string(app.environment)}, {"endpoint", app.endpoint}});
        break;
      }
      case ServiceKind::Fcm: {
        if (!set.http) set.http = std::make_unique<Http2Client>(loop, http_options);
        auto& tokens = set.fcm_tokens[app.credentials_file];
        if (!tokens) {
          try {
            tokens = std::make_shared<FcmTokenSource>(loop, *set.http, load_fcm_service_account(app.credentials_file),
                                                      app.ca_file);
          } catch (const KeyError& e) {
            throw std::runtime_error("[[app]] '" + app.name + "': " + e.what());
          }
        }
        set.providers.push_back(std::make_unique<FcmProvider>(loop, *set.http, tokens, app));
        log::info("app_ready", {{"app", app.name}, {"service", "fcm"}, {"project", tokens->project_id()},
                                {"endpoint", app.endpoint}});
        break;
      }
    }
  }
  return set;
}

}  // namespace pushgate
