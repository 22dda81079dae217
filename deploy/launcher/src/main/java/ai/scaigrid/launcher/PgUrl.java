package ai.scaigrid.launcher;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * An external PostgreSQL given as {@code postgresql://user:password@host:port[/admin-db][?params]}.
 * User and password may be percent-encoded; the port defaults to 5432; the optional database is the
 * one the launcher connects to for creating the per-service databases (default {@code postgres});
 * query parameters (e.g. {@code sslmode=require}) are passed on to every service's URLs.
 */
record PgUrl(String user, String password, String host, int port, String adminDatabase, String query) {

    static final String FORMAT = "postgresql://user:password@host:port";

    static PgUrl parse(String url) throws UsageException {
        if (url == null || url.isBlank()) {
            throw bad("is empty");
        }
        String s = url.trim();
        if (s.regionMatches(true, 0, "jdbc:", 0, 5)) {
            s = s.substring(5);
        }
        int schemeEnd = s.indexOf("://");
        String scheme = schemeEnd < 0 ? "" : s.substring(0, schemeEnd).toLowerCase(Locale.ROOT);
        if (!scheme.equals("postgresql") && !scheme.equals("postgres")) {
            throw bad("must start with postgresql://");
        }
        String rest = s.substring(schemeEnd + 3);

        String query = "";
        int q = rest.indexOf('?');
        if (q >= 0) {
            query = rest.substring(q + 1);
            rest = rest.substring(0, q);
        }
        String path = "";
        int at = rest.lastIndexOf('@');
        int slash = rest.indexOf('/', Math.max(at, 0));
        if (slash >= 0) {
            path = rest.substring(slash + 1);
            rest = rest.substring(0, slash);
        }
        if (at < 0) {
            throw bad("has no user: write it as " + FORMAT);
        }
        String userInfo = rest.substring(0, at);
        String hostPort = rest.substring(at + 1);

        int colon = userInfo.indexOf(':');
        String user = decode(colon < 0 ? userInfo : userInfo.substring(0, colon), "user");
        String password = colon < 0 ? "" : decode(userInfo.substring(colon + 1), "password");
        if (user.isEmpty()) {
            throw bad("has no user: write it as " + FORMAT);
        }

        String host;
        String portText = null;
        if (hostPort.startsWith("[")) {
            int close = hostPort.indexOf(']');
            if (close < 0) {
                throw bad("has an unclosed [ in the host");
            }
            host = hostPort.substring(1, close);
            String after = hostPort.substring(close + 1);
            if (!after.isEmpty()) {
                if (!after.startsWith(":")) {
                    throw bad("has something after the host that is not :port");
                }
                portText = after.substring(1);
            }
        } else {
            int c = hostPort.indexOf(':');
            if (c >= 0 && hostPort.indexOf(':', c + 1) >= 0) {
                throw bad("has an IPv6 host without [brackets]");
            }
            host = c < 0 ? hostPort : hostPort.substring(0, c);
            portText = c < 0 ? null : hostPort.substring(c + 1);
        }
        if (host.isEmpty()) {
            throw bad("has no host: write it as " + FORMAT);
        }
        int port = 5432;
        if (portText != null) {
            try {
                port = Integer.parseInt(portText);
            } catch (NumberFormatException e) {
                throw bad("has a port that is not a number");
            }
            if (port < 1 || port > 65535) {
                throw bad("has a port outside 1-65535");
            }
        }
        String adminDb = decode(path, "database");
        if (adminDb.isEmpty()) {
            adminDb = "postgres";
        }
        if (adminDb.contains("/")) {
            throw bad("has a path that is not a single database name");
        }
        return new PgUrl(user, password, host, port, adminDb, query);
    }

    String hostPort() {
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }

    String jdbcUrl(String database) {
        return "jdbc:postgresql://" + hostPort() + "/" + database + (query.isEmpty() ? "" : "?" + query);
    }

    String reactiveUrl(String database) {
        return "postgresql://" + hostPort() + "/" + database + (query.isEmpty() ? "" : "?" + query);
    }

    /** Never shows the password. */
    @Override
    public String toString() {
        return "postgresql://" + user + (password.isEmpty() ? "" : ":***") + "@" + hostPort() + "/" + adminDatabase;
    }

    private static UsageException bad(String problem) {
        // the URL itself is never echoed: it may carry a password
        return new UsageException("--pg-url / SCAIGRID_PG_URL " + problem + " (expected " + FORMAT + ")");
    }

    /** Percent-decoding as in URIs ('+' stays '+'). */
    private static String decode(String s, String what) throws UsageException {
        if (s.indexOf('%') < 0) {
            return s;
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '%') {
                if (i + 2 >= s.length()) {
                    throw bad("has a bad %-escape in the " + what);
                }
                int hi = Character.digit(s.charAt(i + 1), 16);
                int lo = Character.digit(s.charAt(i + 2), 16);
                if (hi < 0 || lo < 0) {
                    throw bad("has a bad %-escape in the " + what);
                }
                bytes.write(hi * 16 + lo);
                i += 2;
            } else {
                int end = s.indexOf('%', i);
                end = end < 0 ? s.length() : end;
                byte[] b = s.substring(i, end).getBytes(StandardCharsets.UTF_8);
                bytes.write(b, 0, b.length);
                i = end - 1;
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }
}
