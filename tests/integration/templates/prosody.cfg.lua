-- Test Prosody: every port on 127.0.0.1, everything in the test's temp dir.
pidfile = "@DIR@/prosody.pid"
data_path = "@DIR@/data"
log = { { levels = { min = "debug" }, to = "file", filename = "@DIR@/prosody.log" } }
admins = { }
modules_enabled = {
	"roster"; "saslauth"; "disco"; "ping"; "offline"; "posix"; "cloud_notify";
}
modules_disabled = { "s2s" }
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
c2s_ports = { @C2S_PORT@ }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { @S2S_PORT@ }
s2s_interfaces = { "127.0.0.1" }
http_ports = { }
-- Tests enable push for more devices per user than mod_cloud_notify's default of 5.
push_max_devices = 20
https_ports = { }

VirtualHost "localhost"

-- A second server on the same Prosody, for "another domain cannot use a node" tests.
VirtualHost "other.localhost"

-- The operator snippet, with this test's component name, secret and port.
Include "@DIR@/pushgate.cfg.lua"
Include "@DIR@/cloud-notify.cfg.lua"
