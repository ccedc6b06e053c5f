// pushgate registrations: counts per app, and forgetting a device or a token.
#include "store/registrations_command.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <ostream>

#include "common/log.hpp"
#include "store/registration_store.hpp"

namespace pushgate {

int run_registrations_command(const Config& config, const RegistrationsRequest& request, std::ostream& out,
                              std::ostream& err) {
  if (config.store.path.empty() && config.store.url.empty()) {
    err << "pushgate: the configuration has no [store]: registrations are off, so there are none to show; add "
           "[store] path = \"/var/lib/pushgate/pushgate.db\" to keep them\n";
    return 1;
  }
  if (!request.delete_device.empty() && request.jid.empty()) {
    err << "pushgate: --delete-device needs --jid USER@DOMAIN: a device id is only unique per user\n";
    return 1;
  }
  auto at = request.jid.find('@');
  if (!request.jid.empty() && (at == std::string::npos || at == 0 || at + 1 == request.jid.size() ||
                               request.jid.find('/') != std::string::npos)) {
    err << "pushgate: --jid " << request.jid << " is not a bare JID; use user@domain\n";
    return 1;
  }
  // root opening the daemon's SQLite database would leave root-owned -wal and -shm files
  // beside it that the daemon's user cannot open: run as the database's owner instead.
  struct stat st {};
  if (config.store.url.empty() && geteuid() == 0 && stat(config.store.path.c_str(), &st) == 0 && st.st_uid != 0) {
    const passwd* owner = getpwuid(st.st_uid);
    std::string user = owner != nullptr ? owner->pw_name : std::to_string(st.st_uid);
    err << "pushgate: " << config.store.path << " belongs to " << user
        << "; as root this command would leave files the daemon cannot open. Run it as " << user
        << ": runuser -u " << user << " -- pushgate registrations ...\n";
    return 1;
  }
  try {
    std::unique_ptr<RegistrationStore> store =
        config.store.url.empty() ? open_sqlite_store(config.store.path) : open_postgres_store(config.store.url);
    if (!request.delete_device.empty()) {
      DeviceKey key{request.jid.substr(at + 1), request.jid, request.delete_device, ""};
      std::uint64_t n = store->remove_device(key);
      out << "removed " << n << " registration" << (n == 1 ? "" : "s") << " of device " << request.delete_device << " of "
          << request.jid << "\n";
      return 0;
    }
    if (!request.delete_token.empty()) {
      std::uint64_t n = store->remove_token(request.delete_token);
      out << "removed " << n << " registration" << (n == 1 ? "" : "s") << " holding token "
          << log::redact(request.delete_token) << "\n";
      return 0;
    }
    auto counts = store->count_by_app();
    std::uint64_t total = 0;
    for (const auto& [app, n] : counts) total += n;
    out << total << " registration" << (total == 1 ? "" : "s") << "\n";
    for (const auto& count : counts) {
      const std::string& app = count.first;
      auto it = std::find_if(config.apps.begin(), config.apps.end(), [&](const AppConfig& a) { return a.name == app; });
      out << "  " << app << " (" << (it != config.apps.end() ? to_string(it->service) : "not configured: its pushes fail")
          << "): " << count.second << "\n";
    }
    return 0;
  } catch (const StoreError& e) {
    err << "pushgate: registration store: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace pushgate
