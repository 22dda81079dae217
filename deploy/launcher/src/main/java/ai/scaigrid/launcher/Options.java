package ai.scaigrid.launcher;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The launcher's command line. Every flag can also come from the environment; a flag wins over its
 * variable. Flags take their value as the next argument or after '=' ({@code --port-offset=100}).
 *
 * @param pgPort   the embedded PostgreSQL's port when given explicitly, else null (54329 + offset)
 * @param pgUrl    an external PostgreSQL, or null for the embedded one
 * @param root     the checkout holding the module folders when given, else null (searched for)
 * @param services the services to start, in start order
 */
record Options(Command command, Path dataDir, String host, int portOffset, Integer pgPort, PgUrl pgUrl,
               Path root, List<ServiceSpec> services) {

    enum Command { UP, HELP }

    /** flag → environment variable */
    static final Map<String, String> FLAGS = new LinkedHashMap<>();

    static {
        FLAGS.put("--data-dir", "SCAIGRID_DATA_DIR");
        FLAGS.put("--host", "SCAIGRID_HOST");
        FLAGS.put("--port-offset", "SCAIGRID_PORT_OFFSET");
        FLAGS.put("--pg-port", "SCAIGRID_PG_PORT");
        FLAGS.put("--pg-url", "SCAIGRID_PG_URL");
        FLAGS.put("--root", "SCAIGRID_ROOT");
        FLAGS.put("--only", "SCAIGRID_ONLY");
    }

    static final String DEFAULT_DATA_DIR = ".scaigrid";
    static final String DEFAULT_HOST = "127.0.0.1";

    static Options parse(List<String> args, Map<String, String> env, Path cwd) throws UsageException {
        Command command = null;
        Map<String, String> given = new LinkedHashMap<>();
        for (int i = 0; i < args.size(); i++) {
            String arg = args.get(i);
            if (arg.equals("--help") || arg.equals("-h") || arg.equals("help")) {
                return new Options(Command.HELP, null, null, 0, null, null, null, List.of());
            }
            if (arg.startsWith("--")) {
                int eq = arg.indexOf('=');
                String flag = eq < 0 ? arg : arg.substring(0, eq);
                if (!FLAGS.containsKey(flag)) {
                    throw new UsageException("unknown flag " + flag);
                }
                String value;
                if (eq >= 0) {
                    value = arg.substring(eq + 1);
                } else if (i + 1 < args.size()) {
                    value = args.get(++i);
                } else {
                    throw new UsageException(flag + " needs a value");
                }
                given.put(flag, value);
            } else if (arg.equals("up") && command == null) {
                command = Command.UP;
            } else {
                throw new UsageException("unknown command or argument '" + arg + "' (commands: up, help)");
            }
        }

        Map<String, String> values = new LinkedHashMap<>();
        for (Map.Entry<String, String> f : FLAGS.entrySet()) {
            String v = given.get(f.getKey());
            if (v == null) {
                String e = env.get(f.getValue());
                v = e == null || e.isBlank() ? null : e.trim();
            }
            if (v != null) {
                values.put(f.getKey(), v);
            }
        }

        Path dataDir = cwd.resolve(values.getOrDefault("--data-dir", DEFAULT_DATA_DIR)).toAbsolutePath().normalize();
        String host = values.getOrDefault("--host", DEFAULT_HOST).trim();
        if (host.isEmpty()) {
            throw new UsageException("--host must not be empty");
        }
        int offset = integer(values, "--port-offset", 0);
        Integer pgPort = values.containsKey("--pg-port") ? integer(values, "--pg-port", 0) : null;
        if (pgPort != null && (pgPort < 1 || pgPort > 65535)) {
            throw new UsageException("--pg-port must be between 1 and 65535, not " + pgPort);
        }
        PgUrl pgUrl = values.containsKey("--pg-url") ? PgUrl.parse(values.get("--pg-url")) : null;
        Path root = values.containsKey("--root") ? cwd.resolve(values.get("--root")).toAbsolutePath().normalize() : null;
        List<ServiceSpec> services = values.containsKey("--only") ? only(values.get("--only")) : ServiceSpec.ALL;
        return new Options(command == null ? Command.UP : command, dataDir, host, offset, pgPort, pgUrl, root, services);
    }

    /** The embedded PostgreSQL's port: --pg-port, else 54329 + the offset. */
    int effectivePgPort() {
        return pgPort != null ? pgPort : ServiceSpec.DEFAULT_PG_PORT + portOffset;
    }

    boolean needsDatabase() {
        return services.stream().anyMatch(ServiceSpec::hasDatabase);
    }

    boolean embeddedDatabase() {
        return pgUrl == null && needsDatabase();
    }

    private static int integer(Map<String, String> values, String flag, int fallback) throws UsageException {
        String v = values.get(flag);
        if (v == null) {
            return fallback;
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new UsageException(flag + " / " + FLAGS.get(flag) + " must be a whole number, not '" + v + "'");
        }
    }

    private static List<ServiceSpec> only(String list) throws UsageException {
        Set<String> names = new LinkedHashSet<>();
        for (String n : list.split(",")) {
            if (!n.isBlank()) {
                names.add(n.trim());
            }
        }
        if (names.isEmpty()) {
            throw new UsageException("--only needs at least one service: " + allNames());
        }
        List<String> unknown = new ArrayList<>();
        for (String n : names) {
            if (ServiceSpec.byName(n).isEmpty()) {
                unknown.add(n);
            }
        }
        if (!unknown.isEmpty()) {
            throw new UsageException("--only: unknown service " + String.join(", ", unknown) + " (services: " + allNames() + ")");
        }
        // keep the suite's start order whatever order they were listed in
        return ServiceSpec.ALL.stream().filter(s -> names.contains(s.name())).collect(Collectors.toUnmodifiableList());
    }

    private static String allNames() {
        return ServiceSpec.ALL.stream().map(ServiceSpec::name).collect(Collectors.joining(", "));
    }
}
