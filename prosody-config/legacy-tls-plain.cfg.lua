-- Prosody's side of pushgate's legacy TLS listener, [legacy_tls] backend_mode = "plain".
--
-- pushgate listens where old clients connect (e.g. 0.0.0.0:5222), speaks STARTTLS or direct
-- TLS with them at TLS 1.0–1.3, and relays each client, after its handshake, to this port as
-- plain XMPP. Every client, old or new, then comes through pushgate. Put this file in
-- /etc/prosody/conf.d/ (or Include it) and set pushgate's:
--     [legacy_tls]  backend = "127.0.0.1:5200"  backend_mode = "plain"

-- The port pushgate relays to. Loopback only: it has no TLS of its own, so it must never be
-- reachable from the network.
c2s_ports = { 5200 }
c2s_interfaces = { "127.0.0.1" }

-- The client's TLS ended at pushgate on this host; the last hop is loopback. Prosody cannot
-- see that, so encryption is not required on this port, and PLAIN (whose password crossed
-- the network inside the client's TLS) is allowed.
c2s_require_encryption = false
allow_unencrypted_plain_auth = true

-- Public ports stay closed to Prosody: pushgate owns 5222. If pushgate sends a PROXY header
-- ([legacy_tls] proxy_protocol), Prosody needs mod_net_proxy (prosody-modules upstream; not
-- in Debian 12's package) to read it; otherwise leave proxy_protocol = "off".
