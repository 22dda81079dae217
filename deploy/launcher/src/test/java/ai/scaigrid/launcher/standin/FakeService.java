package ai.scaigrid.launcher.standin;

import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;

/**
 * A stand-in for a Quarkus service, started by the launcher exactly like one
 * ({@code java -jar <module>/target/quarkus-app/quarkus-run.jar} with the same environment): it
 * checks its database URL, answers /q/health/ready and /q/health/live, returns the shared error
 * envelope for anything else, holds its gRPC port, writes the bootstrap key file like gateway-core,
 * and stops on SIGTERM. {@code FAKE_SERVICE_FAIL=<name>} makes that service exit during start;
 * {@code FAKE_SERVICE_NEVER_READY=<name>} keeps it answering 503; {@code FAKE_NODE_UNREGISTERED} keeps
 * the fake node-agent ready but not registered with the gateway.
 */
public final class FakeService {
    /**
     * node-agent's readiness check reports whether gateway-core has registered it; the launcher waits
     * for ACTIVE. {@code FAKE_NODE_UNREGISTERED=1} keeps the fake node unregistered, with a problem.
     */
    private static String nodeCheck(String name) {
        if (!name.equals("node-agent")) {
            return "";
        }
        boolean registered = System.getenv("FAKE_NODE_UNREGISTERED") == null;
        return "{\"name\":\"node-config\",\"status\":\"UP\",\"data\":{\"gateway_state\": \""
                + (registered ? "ACTIVE" : "UNSPECIFIED") + "\",\"gateway_problem\": \""
                + (registered ? "" : "gateway unreachable: Connection refused") + "\"}}";
    }

    public static void main(String[] args) throws Exception {
        String name = System.getenv().getOrDefault("FAKE_NAME", moduleOfOwnJar());
        System.out.println("fake " + name + " starting");
        if (name.equals(System.getenv("FAKE_SERVICE_FAIL"))) {
            System.out.println("fake " + name + ": failing on purpose");
            System.exit(3);
        }
        String jdbc = System.getenv("QUARKUS_DATASOURCE_JDBC_URL");
        if (jdbc != null) {
            Properties props = new Properties();
            props.setProperty("user", System.getenv("QUARKUS_DATASOURCE_USERNAME"));
            try (Connection c = DriverManager.getConnection(jdbc, props);
                 ResultSet rs = c.createStatement().executeQuery("SELECT current_database()")) {
                rs.next();
                System.out.println("fake " + name + ": connected to database " + rs.getString(1));
            }
        }
        String keyFile = System.getenv("SCAIGRID_BOOTSTRAP_KEY_FILE");
        if (keyFile != null && !Files.exists(Path.of(keyFile))) {
            Files.writeString(Path.of(keyFile), "sgk_Fake" + UUID.randomUUID().toString().replace("-", "") + "\n");
        }
        boolean neverReady = name.equals(System.getenv("FAKE_SERVICE_NEVER_READY"));
        String host = System.getenv().getOrDefault("QUARKUS_HTTP_HOST", "127.0.0.1");
        int port = Integer.parseInt(System.getenv().getOrDefault("QUARKUS_HTTP_PORT", "8080"));

        HttpServer http = HttpServer.create(new InetSocketAddress(host, port), 50);
        http.createContext("/", exchange -> {
            String path = exchange.getRequestURI().getPath();
            int status;
            String body;
            if (path.equals("/q/health/ready")) {
                status = neverReady ? 503 : 200;
                body = "{\"status\":\"" + (neverReady ? "DOWN" : "UP") + "\",\"checks\":[" + nodeCheck(name) + "]}";
            } else if (path.equals("/q/health/live")) {
                status = 200;
                body = "{\"status\":\"UP\",\"checks\":[]}";
            } else {
                status = 404;
                body = "{\"status\":\"error\",\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"no such path\",\"details\":null},"
                        + "\"meta\":{\"request_id\":\"req_" + UUID.randomUUID() + "\"}}";
            }
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(status, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        });
        http.start();

        String grpcPort = System.getenv("QUARKUS_GRPC_SERVER_PORT");
        ServerSocket grpc = null;
        if (grpcPort != null) {
            grpc = new ServerSocket();
            grpc.bind(new InetSocketAddress(System.getenv().getOrDefault("QUARKUS_GRPC_SERVER_HOST", host), Integer.parseInt(grpcPort)));
            ServerSocket g = grpc;
            Thread acceptor = new Thread(() -> {
                while (!g.isClosed()) {
                    try (Socket s = g.accept()) {
                        // hold nothing: the port only has to be taken
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            acceptor.setDaemon(true);
            acceptor.start();
        }
        System.out.println("fake " + name + " listening on " + host + ":" + port + (grpcPort == null ? "" : ", grpc " + grpcPort));

        CountDownLatch forever = new CountDownLatch(1);
        ServerSocket g = grpc;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("fake " + name + " stopping");
            http.stop(0);
            if (g != null) {
                try {
                    g.close();
                } catch (IOException ignored) {
                    // exiting anyway
                }
            }
        }));
        forever.await();
    }

    /** The module folder of the jar this runs from: {@code <module>/target/quarkus-app/quarkus-run.jar}. */
    private static String moduleOfOwnJar() {
        String command = System.getProperty("sun.java.command", "");
        String jar = command.split(" ")[0];
        Path p = Path.of(jar).toAbsolutePath();
        return p.getParent().getParent().getParent().getFileName().toString();
    }
}
