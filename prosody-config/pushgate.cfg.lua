-- pushgate: the XEP-0357 push App Server, connected to Prosody as an external component.
--
-- Put this file and cloud-notify.cfg.lua in /etc/prosody/conf.d/: Debian's prosody.cfg.lua
-- ends with Include "conf.d/*.cfg.lua", which reads them. Elsewhere, Include both from
-- prosody.cfg.lua. Add "cloud_notify" to modules_enabled (Debian's prosody-modules package).
-- Replace push.example.com and the secret; the same secret goes into the file named by
-- pushgate's [component] secret_file (deploy/install.sh generates one:
-- /etc/pushgate/credentials/component.secret). Check with: prosodyctl check config

-- The component (XEP-0114). The table form ends the component's settings at its closing
-- brace, so the lines below it stay in the global section, where component_ports must be.
Component "push.example.com" {
	component_secret = "CHANGE-ME-component-secret";
}

-- Where Prosody accepts components. pushgate runs beside Prosody: keep this on loopback,
-- the handshake is a shared secret over plain TCP.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

-- mod_cloud_notify's settings are in cloud-notify.cfg.lua, next to this file.
