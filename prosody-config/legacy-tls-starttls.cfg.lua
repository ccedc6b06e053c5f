-- Prosody's side of pushgate's legacy TLS listener, [legacy_tls] backend_mode = "starttls".
--
-- Prosody keeps its normal c2s port, its certificate and a modern TLS policy: encryption is
-- required, old TLS versions stay off. Old clients connect to pushgate on another port or
-- address (e.g. [legacy_tls] listen = "0.0.0.0:5322"). pushgate negotiates STARTTLS with
-- Prosody on their behalf, then relays. Set pushgate's:
--     [legacy_tls]  backend = "127.0.0.1:5222"  backend_mode = "starttls"

c2s_ports = { 5222 }

-- Unchanged by pushgate: every session reaching Prosody is encrypted, pushgate's included.
c2s_require_encryption = true
-- Prosody's own TLS policy, as strict as you like; pushgate only needs one TLS 1.2+ cipher
-- it shares. (Debian's default is already modern; this spells it out.)
ssl = {
	protocol = "tlsv1_2+";
	certificate = "/etc/prosody/certs/example.org.crt";
	key = "/etc/prosody/certs/example.org.key";
}

-- Channel binding (SCRAM-*-PLUS) binds a login to the TLS session it runs in; behind a proxy
-- the client's TLS session is not Prosody's, so pushgate removes -PLUS mechanisms from what it
-- relays. Clients that insist on channel binding should connect to Prosody directly.
