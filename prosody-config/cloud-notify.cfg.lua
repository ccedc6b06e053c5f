-- mod_cloud_notify (XEP-0357, Debian's prosody-modules): what Prosody puts into the push it
-- publishes to pushgate, and when it gives up on a device. With "cloud_notify" in
-- modules_enabled, put this file in /etc/prosody/conf.d/ (Debian's prosody.cfg.lua ends with
-- Include "conf.d/*.cfg.lua"), or Include it from prosody.cfg.lua elsewhere. Prosody reads
-- every included file from its global section, so these settings apply to all hosts wherever
-- the Include line stands. Check with: prosodyctl check config

-- Privacy. Apple and Google see whatever reaches them; pushgate copies the body or sender
-- into a push only when its app says include_body/include_sender = true, and here Prosody
-- does not even send them. pushgate only needs to know that a message is waiting.
push_notification_with_body = false
push_notification_with_sender = false
-- Sent instead of the body for messages that matter (a chat message, an encrypted one, a
-- call): its presence marks the push important, so Android delivers it at high priority.
push_notification_important_body = "New Message!"

-- Errors of type cancel/auth/modify count towards this limit; at it, Prosody deletes the
-- user's push registration. pushgate answers `wait` for anything that is not the device's
-- fault (provider outage, throttling, our own credentials), so those never count; a device
-- Apple or Google reports gone gets cancel/item-not-found and is dropped at once.
push_max_errors = 16

-- Push registrations per user (one per device and app); older ones are dropped beyond it.
-- push_max_devices = 5
-- How long a hibernated (XEP-0198) session keeps pushes flowing, in seconds.
-- push_max_hibernation_timeout = 259200
