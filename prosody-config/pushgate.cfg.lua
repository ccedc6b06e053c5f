-- pushgate: the XEP-0357 push App Server, connected to Prosody as an external component.
--
-- Include this file at the END of prosody.cfg.lua (after your VirtualHost sections):
--     Include "/etc/prosody/conf.d/pushgate.cfg.lua"
-- and add "cloud_notify" to modules_enabled (from Debian's prosody-modules package).
-- Replace push.example.com and the secret; the same secret goes into the file named by
-- pushgate's [component] secret_file (chmod 600, owned by the pushgate user).

-- The component (XEP-0114). The table form returns to the global section afterwards, so
-- the settings below it are global even when this file is included after a VirtualHost.
Component "push.example.com" {
	component_secret = "CHANGE-ME-component-secret";
}

-- Where Prosody accepts components. pushgate runs beside Prosody: keep this on loopback,
-- the handshake is a shared secret over plain TCP.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

-- mod_cloud_notify (XEP-0357). Apple and Google see whatever Prosody puts into the push:
-- keep message bodies and senders out of it. pushgate only needs to know that a message
-- is waiting ("New Message!" marks it important, which makes Android pushes high priority).
push_notification_with_body = false
push_notification_with_sender = false
-- Errors of type `cancel`/`auth`/`modify` count towards this limit; at it, Prosody deletes
-- the user's push registration. pushgate answers `wait` for anything that is not the
-- device's fault (provider outage, our credentials), so those never count.
push_max_errors = 16
