package ai.scaigrid.launcher;

import ai.scaigrid.launcher.logging.FileLog;

import java.io.IOException;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionService;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorCompletionService;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;

/**
 * {@code scaigrid up}: PostgreSQL (embedded, or external with --pg-url), its databases, then every
 * service as {@code java -jar <module>/target/quarkus-app/quarkus-run.jar}, each polled on
 * /q/health/ready until ready; then a summary and the line {@value #READY_MARKER}. Ctrl-C / SIGTERM
 * stops the services (SIGTERM, reverse order, 20 s grace, then killed) and PostgreSQL last.
 */
public final class Launcher {
    static final String READY_MARKER = "SCAIGRID READY";
    static final String KEY_FILE = "bootstrap-admin-key.txt";
    /** Written by gateway-core at each start (scaigrid.local-node.token-file), read by node-agent. */
    static final String NODE_TOKEN_FILE = "node-service-token.txt";
    static final String KEK_FILE = "platform-kek.txt";
    static final String POSTGRES_VERSION = "17";
    static final Duration DEFAULT_READY_TIMEOUT = Duration.ofSeconds(180);
    static final Duration STOP_GRACE = Duration.ofSeconds(20);
    static final int TAIL_LINES = 40;
    static final String SERVICE_HEAP = "-Xmx384m";
    /**
     * gateway-core's young generation. Its inference path allocates 35-90 KB a request, and G1, left to size the
     * heap itself, kept it at ~45 MB with an 18 MB young generation: a 1-2 ms pause every 0.2-0.5 s at 1,000
     * requests/s, a few percent of requests held up by one. With 128 MB, one every 1.5-4 s (docs/performance.md).
     */
    static final String GATEWAY_YOUNG_GEN = "-Xmn128m";

    private final Options options;
    private final Map<String, String> env;
    private final Term term;

    private final Object lock = new Object();
    private final List<ServiceProcess> started = new ArrayList<>();
    private Database database;
    private volatile RunState runState;
    private boolean stopping;

    /**
     * The service JVM's command line: the default heap (and gateway-core's young generation), then
     * SCAIGRID_SERVICE_JAVA_OPTS (whitespace separated, e.g. a larger heap, another GC or -Xlog:gc for
     * profiling; later options win) so operators can tune every service without editing the launcher.
     */
    static List<String> javaCommand(String javaBin, String service, String jar, Map<String, String> env) {
        List<String> command = new ArrayList<>(List.of(javaBin, SERVICE_HEAP));
        if (ServiceSpec.GATEWAY.equals(service)) {
            command.add(GATEWAY_YOUNG_GEN);
        }
        String extra = env.getOrDefault("SCAIGRID_SERVICE_JAVA_OPTS", "").trim();
        if (!extra.isEmpty()) {
            command.addAll(List.of(extra.split("\\s+")));
        }
        command.add("-jar");
        command.add(jar);
        return command;
    }

    Launcher(Options options, Map<String, String> env, Term term) {
        this.options = options;
        this.env = env;
        this.term = term;
    }

    public static void main(String[] args) {
        Map<String, String> env = System.getenv();
        Path cwd = Path.of("").toAbsolutePath();
        Term term = Term.forEnvironment(env, cwd);
        Options options;
        try {
            options = Options.parse(List.of(args), env, cwd);
        } catch (UsageException e) {
            term.fail(e.getMessage());
            term.line("Run 'scaigrid help' for the commands and flags.");
            System.exit(2);
            return;
        }
        if (options.command() == Options.Command.HELP) {
            term.line(Usage.text());
            return;
        }
        System.exit(new Launcher(options, env, term).up());
    }

    /** Starts everything and blocks while it runs; returns only when start-up fails (the exit code). */
    int up() {
        PortPlan plan;
        Path root;
        try {
            plan = PortPlan.of(options);
            root = findRoot(options.root(), codeLocation(), Path.of("").toAbsolutePath());
        } catch (UsageException | LauncherException e) {
            term.fail(e.getMessage());
            return e instanceof UsageException ? 2 : 1;
        }

        List<ServiceSpec> missing = options.services().stream().filter(s -> !Files.isRegularFile(s.jar(root))).toList();
        if (!missing.isEmpty()) {
            term.fail("not built yet: " + missing.stream().map(s -> term.show(s.jar(root))).collect(Collectors.joining(", ")));
            term.line("Build the services first: ./scaigrid build   (or: ./mvnw -B -DskipTests package)");
            return 1;
        }

        Path dataDir = options.dataDir();
        Path pgDir = dataDir.resolve("postgres");
        Path logDir = dataDir.resolve("logs");
        try {
            runState = RunState.acquire(dataDir, term);
            Files.createDirectories(logDir);
            FileLog.to(logDir.resolve("postgres.log"));
            int leftovers = runState.stopLeftoverServices(term).size();
            if (leftovers > 0) {
                term.ok("stopped " + leftovers + (leftovers == 1 ? " leftover service" : " leftover services"));
            }
            if (options.embeddedDatabase()) {
                EmbeddedDatabase.stopLeftover(pgDir, term).ifPresent(pid -> term.ok("stopped the old PostgreSQL (pid " + pid + ")"));
            }
        } catch (IOException | LauncherException e) {
            term.fail(e.getMessage());
            return 1;
        }

        List<PortCheck.Problem> taken = PortCheck.problems(plan.needed(options.services(), options.host()));
        if (!taken.isEmpty()) {
            for (PortCheck.Problem p : taken) {
                term.fail("port " + p.port().port() + " (" + p.port().owner() + ") on " + p.port().host()
                        + " is not available: " + p.reason());
            }
            term.line("Nothing was started. Stop whatever holds " + (taken.size() == 1 ? "that port" : "those ports")
                    + ", or move every port with --port-offset N (e.g. --port-offset 100).");
            return 1;
        }

        Runtime.getRuntime().addShutdownHook(new Thread(this::stopAll, "scaigrid-shutdown"));

        try {
            startDatabase(plan, pgDir);
        } catch (Exception e) {
            term.fail("PostgreSQL did not start: " + e.getMessage());
            term.line("Its log: " + term.show(logDir.resolve("postgres.log")));
            return 1;
        }

        String kek;
        try {
            kek = ensureKek(dataDir, env);
        } catch (IOException | LauncherException e) {
            term.fail(e.getMessage());
            return 1;
        }

        List<ServiceProcess> services = new ArrayList<>();
        String javaBin = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (ServiceSpec spec : options.services()) {
            ServiceProcess sp = new ServiceProcess(spec, plan.http(spec), plan.grpc(spec),
                    logDir.resolve(spec.name() + ".log"), connectHost(options.host()));
            term.step("starting " + spec.name() + " (http :" + sp.httpPort()
                    + (spec.hasGrpc() ? ", grpc :" + sp.grpcPort() : "") + ")");
            Map<String, String> serviceEnv = serviceEnv(spec, plan, options.host(), database, dataDir, kek, env);
            try {
                synchronized (lock) {
                    if (stopping) {
                        return 1;
                    }
                    sp.start(javaCommand(javaBin, spec.name(), spec.jar(root).toString(), env), serviceEnv, dataDir);
                    started.add(sp);
                    runState.recordService(spec.name(), sp.process());
                }
            } catch (IOException e) {
                term.fail("could not start " + spec.name() + ": " + e.getMessage());
                return 1;
            }
            services.add(sp);
        }

        if (!awaitReady(services)) {
            return 1;
        }
        for (ServiceProcess sp : services) {
            sp.process().onExit().thenRun(() -> diedWhileRunning(sp));
        }
        printSummary(services, dataDir);

        try {
            new CountDownLatch(1).await(); // until Ctrl-C / SIGTERM; stdin is never read
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }

    private void startDatabase(PortPlan plan, Path pgDir) throws Exception {
        if (!options.needsDatabase()) {
            return;
        }
        List<String> names = options.services().stream().filter(ServiceSpec::hasDatabase).map(ServiceSpec::database).toList();
        long t0 = System.nanoTime();
        Database db;
        if (options.pgUrl() != null) {
            term.step("using the external PostgreSQL at " + options.pgUrl().hostPort() + " (user " + options.pgUrl().user()
                    + "), creating missing databases");
            db = ExternalDatabase.connect(options.pgUrl(), names);
        } else {
            String dataIn = "data in " + term.show(pgDir);
            term.step("starting PostgreSQL " + POSTGRES_VERSION + " (embedded, " + dataIn + ", port " + plan.pgPort() + ")");
            db = EmbeddedDatabase.start(pgDir, plan.pgPort(), names, "127.0.0.1:" + plan.pgPort() + " (embedded, " + dataIn + ")");
        }
        synchronized (lock) {
            if (stopping) {
                db.close();
                throw new LauncherException("stopped while starting");
            }
            database = db;
        }
        term.ok("PostgreSQL ready (" + Term.seconds(System.nanoTime() - t0) + ")");
    }

    /** Waits for every service in parallel; on the first that exits or times out, shows its log and returns false. */
    private boolean awaitReady(List<ServiceProcess> services) {
        Duration timeout = readyTimeout(env);
        HttpClient http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(1))
                .build();
        ExecutorService pool = Executors.newFixedThreadPool(services.size(), r -> {
            Thread t = new Thread(r, "scaigrid-ready");
            t.setDaemon(true);
            return t;
        });
        CompletionService<Map.Entry<ServiceProcess, ServiceProcess.Readiness>> done = new ExecutorCompletionService<>(pool);
        AtomicBoolean failed = new AtomicBoolean();
        for (ServiceProcess sp : services) {
            done.submit(() -> {
                ServiceProcess.Readiness r = sp.awaitReady(http, timeout, () -> failed.get() || isStopping());
                if (r == ServiceProcess.Readiness.READY) {
                    term.ok(sp.name() + " ready (" + Term.seconds(System.nanoTime() - sp.startedAt()) + ")");
                }
                return Map.entry(sp, r);
            });
        }
        try {
            for (int i = 0; i < services.size(); i++) {
                Map.Entry<ServiceProcess, ServiceProcess.Readiness> result = done.take().get();
                ServiceProcess sp = result.getKey();
                switch (result.getValue()) {
                    case READY:
                        continue;
                    case EXITED:
                        failed.set(true);
                        term.fail(sp.name() + " stopped during start-up (" + sp.exitDescription() + "). Last "
                                + TAIL_LINES + " lines of " + term.show(sp.log()) + ":");
                        term.quote(sp.tail(TAIL_LINES));
                        return false;
                    case TIMED_OUT:
                        failed.set(true);
                        term.fail(sp.name() + " not ready after " + timeout.toSeconds() + "s (" + sp.lastProbe()
                                + " on /q/health/ready). Last " + TAIL_LINES + " lines of " + term.show(sp.log()) + ":");
                        term.quote(sp.tail(TAIL_LINES));
                        return false;
                    default:
                        return false;
                }
            }
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (ExecutionException e) {
            term.fail("waiting for the services failed: " + e.getCause());
            return false;
        } finally {
            pool.shutdownNow();
        }
    }

    private void printSummary(List<ServiceProcess> services, Path dataDir) {
        String host = hostForUrl(connectHost(options.host()));
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"service", "URL", "gRPC", "log"});
        for (ServiceProcess sp : services) {
            rows.add(new String[] {sp.name(), "http://" + host + ":" + sp.httpPort(),
                    sp.spec().hasGrpc() ? host + ":" + sp.grpcPort() : "-", term.show(sp.log())});
        }
        int[] width = new int[4];
        for (String[] row : rows) {
            for (int c = 0; c < 4; c++) {
                width[c] = Math.max(width[c], row[c].length());
            }
        }
        List<String> out = new ArrayList<>();
        out.add("");
        for (String[] row : rows) {
            out.add(String.format("  %-" + width[0] + "s   %-" + width[1] + "s   %-" + width[2] + "s   %s",
                    row[0], row[1], row[2], row[3]).stripTrailing());
        }
        Database db = database;
        if (db != null) {
            out.add("  PostgreSQL: " + db.describe());
        }
        out.add("");
        if (options.services().stream().anyMatch(s -> s.name().equals(ServiceSpec.GATEWAY))) {
            Path keyFile = dataDir.resolve(KEY_FILE);
            Optional<String> key = readKey(keyFile);
            if (key.isPresent()) {
                out.add("First start: super-admin API key: " + key.get() + " (also in " + term.show(keyFile)
                        + "; store it and delete the file)");
            } else {
                out.add("Admin API key: shown on first start only.");
            }
        }
        out.add(READY_MARKER);
        out.add("Press Ctrl-C to stop.");
        term.lines(out);
    }

    private void diedWhileRunning(ServiceProcess sp) {
        if (isStopping()) {
            return;
        }
        term.warn(sp.name() + " stopped unexpectedly (" + sp.exitDescription() + "); the others keep running. Last "
                + TAIL_LINES + " lines of " + term.show(sp.log()) + ":");
        term.quote(sp.tail(TAIL_LINES));
    }

    private boolean isStopping() {
        synchronized (lock) {
            return stopping;
        }
    }

    /** The shutdown hook: services first (SIGTERM, reverse order, all waited for in parallel), then PostgreSQL. */
    void stopAll() {
        List<ServiceProcess> services;
        Database db;
        synchronized (lock) {
            if (stopping) {
                return;
            }
            stopping = true;
            services = new ArrayList<>(started);
            db = database;
        }
        if (services.isEmpty() && db == null) {
            if (runState != null) {
                runState.release();
            }
            return;
        }
        Collections.reverse(services);
        List<ServiceProcess> alive = services.stream().filter(ServiceProcess::isAlive).toList();
        if (!alive.isEmpty()) {
            term.step("stopping " + alive.stream().map(ServiceProcess::name).collect(Collectors.joining(", ")));
            for (ServiceProcess sp : alive) {
                sp.process().destroy();
            }
            long deadline = System.nanoTime() + STOP_GRACE.toNanos();
            for (ServiceProcess sp : alive) {
                try {
                    long left = Math.max(0, deadline - System.nanoTime());
                    if (!sp.process().waitFor(left, TimeUnit.NANOSECONDS)) {
                        term.warn(sp.name() + " did not stop within " + STOP_GRACE.toSeconds() + "s; killing it");
                        sp.process().descendants().forEach(ProcessHandle::destroyForcibly);
                        sp.process().destroyForcibly();
                        sp.process().waitFor(10, TimeUnit.SECONDS);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    sp.process().destroyForcibly();
                }
            }
        }
        if (services.stream().noneMatch(ServiceProcess::isAlive)) {
            runState.clearServices();
        }
        if (db != null) {
            if (db instanceof EmbeddedDatabase) {
                term.step("stopping PostgreSQL");
            }
            db.close();
        }
        runState.release();
        term.ok("stopped");
    }

    // ---- pure helpers, unit-tested ----

    /** The environment of one service on top of the launcher's own. */
    static Map<String, String> serviceEnv(ServiceSpec spec, PortPlan plan, String bindHost, Database db, Path dataDir,
                                          String kek, Map<String, String> inherited) {
        String host = hostForUrl(connectHost(bindHost));
        ServiceSpec gateway = ServiceSpec.named(ServiceSpec.GATEWAY);
        Map<String, String> e = new LinkedHashMap<>();
        e.put("QUARKUS_HTTP_HOST", bindHost);
        e.put("QUARKUS_HTTP_PORT", Integer.toString(plan.http(spec)));
        if (spec.hasGrpc()) {
            e.put("QUARKUS_GRPC_SERVER_HOST", bindHost);
            e.put("QUARKUS_GRPC_SERVER_PORT", Integer.toString(plan.grpc(spec)));
        }
        if (spec.hasDatabase() && db != null) {
            e.put("QUARKUS_DATASOURCE_REACTIVE_URL", db.reactiveUrl(spec.database()));
            e.put("QUARKUS_DATASOURCE_JDBC_URL", db.jdbcUrl(spec.database()));
            e.put("QUARKUS_DATASOURCE_USERNAME", db.username());
            db.password().ifPresent(p -> e.put("QUARKUS_DATASOURCE_PASSWORD", p));
        }
        e.put("SCAIGRID_GATEWAY_HTTP_URL", "http://" + host + ":" + plan.http(gateway));
        e.put("SCAIGRID_GATEWAY_GRPC_ADDRESS", host + ":" + plan.grpc(gateway));
        // module services' identity-introspection client (quarkus.grpc.clients.scaigrid-identity)
        e.put("SCAIGRID_GATEWAY_GRPC_HOST", host);
        e.put("SCAIGRID_GATEWAY_GRPC_PORT", Integer.toString(plan.grpc(gateway)));
        e.put("SCAIGRID_SCAIMIND_GRPC_ADDRESS", host + ":" + plan.grpc(ServiceSpec.named(ServiceSpec.SCAIMIND)));
        e.put("SCAIGRID_SCAICORE_GRPC_ADDRESS", host + ":" + plan.grpc(ServiceSpec.named(ServiceSpec.SCAICORE)));
        if (spec.name().equals(ServiceSpec.GATEWAY)) {
            e.put("SCAIGRID_BOOTSTRAP_KEY_FILE", dataDir.resolve(KEY_FILE).toString());
            // the local node-agent's service token, and the catalogue entry for its simulated model
            e.put("SCAIGRID_LOCAL_NODE_TOKEN_FILE", dataDir.resolve(NODE_TOKEN_FILE).toString());
            e.put("SCAIGRID_NODES_REGISTER_SIMULATED_CATALOGUE", "true");
        }
        if (spec.name().equals("node-agent")) {
            // node-agent's own config key for the same address (scaigrid.node.gateway-grpc-address)
            e.put("SCAIGRID_NODE_GATEWAY_GRPC_ADDRESS", host + ":" + plan.grpc(gateway));
            e.put("SCAIGRID_NODE_SERVICE_TOKEN_FILE", dataDir.resolve(NODE_TOKEN_FILE).toString());
            // a second simulated model that thinks before it answers (scaigrid/sim-reasoning-1 in the catalogue),
            // unless the environment configures a second model itself
            if (!inherited.containsKey("SCAIGRID_NODE_MODELS_1__NAME")) {
                e.put("SCAIGRID_NODE_MODELS_1__NAME", "scaigrid-sim-reasoning-1");
                e.put("SCAIGRID_NODE_MODELS_1__REASONING_TOKENS", "24");
            }
        }
        if (kek != null) {
            e.put("SCAIGRID_KEK", kek);
        }
        if (!inherited.containsKey("QUARKUS_LOG_CONSOLE_JSON_ENABLED")) {
            // readable logs locally (production logs JSON); set the variable to choose yourself
            e.put("QUARKUS_LOG_CONSOLE_JSON_ENABLED", "false");
        }
        return e;
    }

    /** Where clients connect: the bind host, or loopback when binding to every interface. */
    static String connectHost(String bindHost) {
        return bindHost.equals("0.0.0.0") || bindHost.equals("::") || bindHost.equals("[::]") ? "127.0.0.1" : bindHost;
    }

    static String hostForUrl(String host) {
        return host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
    }

    /** --root, else the first folder holding gateway-core/ above the launcher jar or the current directory. */
    static Path findRoot(Path explicit, Path codeLocation, Path cwd) throws LauncherException {
        if (explicit != null) {
            if (!Files.isDirectory(explicit)) {
                throw new LauncherException("--root " + explicit + " is not a directory");
            }
            return explicit;
        }
        for (Path start : new Path[] {codeLocation, cwd}) {
            for (Path p = start == null ? null : start.toAbsolutePath(); p != null; p = p.getParent()) {
                if (Files.isDirectory(p.resolve(ServiceSpec.GATEWAY))) {
                    return p;
                }
            }
        }
        throw new LauncherException("cannot find the ScaiGrid checkout (the folder with gateway-core/) above "
                + (codeLocation == null ? "" : codeLocation + " or ") + cwd + "; pass --root DIR");
    }

    private static Path codeLocation() {
        try {
            return Path.of(Launcher.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException | RuntimeException e) {
            return null;
        }
    }

    static Duration readyTimeout(Map<String, String> env) {
        String v = env.get("SCAIGRID_READY_TIMEOUT_SECONDS");
        try {
            return v == null || v.isBlank() ? DEFAULT_READY_TIMEOUT : Duration.ofSeconds(Long.parseLong(v.trim()));
        } catch (NumberFormatException e) {
            return DEFAULT_READY_TIMEOUT;
        }
    }

    static Optional<String> readKey(Path keyFile) {
        try {
            if (!Files.isRegularFile(keyFile)) {
                return Optional.empty();
            }
            return Files.readAllLines(keyFile, StandardCharsets.UTF_8).stream().map(String::trim)
                    .filter(l -> !l.isEmpty()).findFirst();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /**
     * The platform key-encryption key every service gets as SCAIGRID_KEK: from the environment when
     * set there (then null: it is inherited), else from {@code <data-dir>/platform-kek.txt}, generated
     * (32 random bytes, base64, mode 0600) on the first start.
     */
    static String ensureKek(Path dataDir, Map<String, String> env) throws IOException, LauncherException {
        String fromEnv = env.get("SCAIGRID_KEK");
        if (fromEnv != null && !fromEnv.isBlank()) {
            return null;
        }
        Path file = dataDir.resolve(KEK_FILE);
        if (!Files.exists(file)) {
            byte[] key = new byte[32];
            new SecureRandom().nextBytes(key);
            String encoded = Base64.getEncoder().encodeToString(key);
            Files.createDirectories(dataDir);
            try {
                try {
                    Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
                } catch (UnsupportedOperationException e) {
                    Files.createFile(file);
                }
                Files.writeString(file, encoded + System.lineSeparator(), StandardCharsets.UTF_8);
            } catch (FileAlreadyExistsException e) {
                // another start created it meanwhile: use that one
            }
        }
        String kek = Files.readString(file, StandardCharsets.UTF_8).trim();
        byte[] decoded;
        try {
            decoded = Base64.getDecoder().decode(kek);
        } catch (IllegalArgumentException e) {
            decoded = new byte[0];
        }
        if (decoded.length != 32) {
            throw new LauncherException(file + " must hold 32 bytes in base64 (the platform key-encryption key)");
        }
        return kek;
    }
}
