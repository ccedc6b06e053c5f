-- pushgate: the XEP-0357 push App Server, connected to Prosody as an external component.
--
-- Include this file at the END of prosody.cfg.lua (after your VirtualHost sections):
--     Include "/etc/prosody/conf.d/pushgate.cfg.lua"
--     Include "/etc/prosody/conf.d/cloud-notify.cfg.lua"
-- and add "cloud_notify" to modules_enabled (from Debian's prosody-modules package).
-- Check with: prosodyctl check config
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

-- mod_cloud_notify's settings are in cloud-notify.cfg.lua, next to this file.
