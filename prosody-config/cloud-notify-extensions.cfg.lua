-- Siskin IM and Snikket iOS (Tigase's push dialect): Prosody's side of encrypted pushes, the
-- priority tag and the group chat / muted filters. mod_cloud_notify_extensions loads the three
-- modules that do it: mod_cloud_notify_encrypted, mod_cloud_notify_priority_tag and
-- mod_cloud_notify_filters. Siskin asks for encrypted pushes only when the server has them;
-- without them it still gets pushes, but it shows them as a generic alert.
--
-- Debian 12's prosody-modules package does not have these modules. Get them from the
-- prosody-modules repository (https://hg.prosody.im/prosody-modules/), e.g.
--     hg clone https://hg.prosody.im/prosody-modules/ /usr/local/lib/prosody-modules
-- or copy just the four mod_cloud_notify_* folders named above into that directory.
-- On Prosody 0.12, mod_cloud_notify_encrypted needs luaossl: apt-get install lua-luaossl
--
-- Then put this file in /etc/prosody/conf.d/ beside cloud-notify.cfg.lua (or Include it), add
-- "cloud_notify_extensions" to modules_enabled next to "cloud_notify" in prosody.cfg.lua, and
-- check with: prosodyctl check config

-- Where Prosody finds modules beyond its own directory (which holds Debian's prosody-modules
-- too, so mod_cloud_notify stays found). A later plugin_paths replaces an earlier one, and
-- Debian's prosody.cfg.lua already sets /usr/local/lib/prosody/modules: both are kept here.
plugin_paths = { "/usr/local/lib/prosody/modules", "/usr/local/lib/prosody-modules" }
