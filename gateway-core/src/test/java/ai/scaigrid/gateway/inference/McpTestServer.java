package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.testing.NodeScripts;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A remote MCP server for the tests: the MCP project's own test server, {@code @modelcontextprotocol/server-everything}
 * (tools {@code echo}, {@code get-sum} and more), installed from the project's lock file and started once per test run
 * in each transport: Streamable HTTP ({@code /mcp}) and the older HTTP+SSE ({@code /sse}).
 */
final class McpTestServer {
    private static final Path DIR = Path.of("src", "test", "node", "mcp-server").toAbsolutePath();
    private static final Map<String, McpTestServer> RUNNING = new HashMap<>();

    final String url;
    private final Process process;
    private final StringBuilder said;

    private McpTestServer(String url, Process process, StringBuilder said) {
        this.url = url;
        this.process = process;
        this.said = said;
    }

    /** The server over Streamable HTTP. */
    static McpTestServer streamable() throws Exception {
        return start("streamableHttp", "/mcp");
    }

    /** The server over HTTP+SSE. */
    static McpTestServer sse() throws Exception {
        return start("sse", "/sse");
    }

    /** How many times the server has said {@code text} so far (its log: sessions opened, ended ...). */
    int said(String text) {
        synchronized (said) {
            int count = 0;
            for (int at = said.indexOf(text); at >= 0; at = said.indexOf(text, at + 1)) {
                count++;
            }
            return count;
        }
    }

    /** The id of the session the server opened last (Streamable HTTP). */
    String lastSession() {
        String marker = "Session initialized with ID: ";
        synchronized (said) {
            int at = said.lastIndexOf(marker);
            return at < 0 ? null : said.substring(at + marker.length(), said.indexOf("\n", at)).trim();
        }
    }

    private static synchronized McpTestServer start(String mode, String path) throws Exception {
        McpTestServer running = RUNNING.get(mode);
        if (running != null && running.process.isAlive()) {
            return running;
        }
        if (running != null) {
            synchronized (running.said) {
                System.err.println("the MCP test server (" + mode + ") had ended, exit " + running.process.exitValue() + "; it said:\n"
                        + running.said);
            }
        }
        NodeScripts.npmCi(DIR, "node_modules/@modelcontextprotocol/server-everything");
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        ProcessBuilder pb = new ProcessBuilder("node", "node_modules/@modelcontextprotocol/server-everything/dist/index.js", mode)
                .directory(DIR.toFile()).redirectErrorStream(true);
        pb.environment().put("PORT", Integer.toString(port));
        Process process = pb.start();
        Runtime.getRuntime().addShutdownHook(new Thread(process::destroyForcibly));
        CompletableFuture<Void> up = new CompletableFuture<>();
        StringBuilder said = new StringBuilder();
        Thread reader = new Thread(() -> {
            try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = out.readLine()) != null; ) {
                    synchronized (said) {
                        said.append(line).append('\n');
                    }
                    if (line.contains(Integer.toString(port)) && !line.contains("in use")) {
                        up.complete(null);
                    }
                }
            } catch (Exception e) {
                // the process ended
            }
            up.completeExceptionally(new IllegalStateException("the MCP test server ended: " + said));
        }, "mcp-test-server-" + mode);
        reader.setDaemon(true);
        reader.start();
        up.get(60, TimeUnit.SECONDS);
        if (!process.isAlive()) {
            throw new IllegalStateException("the MCP test server ended at once: " + said);
        }
        McpTestServer server = new McpTestServer("http://127.0.0.1:" + port + path, process, said);
        RUNNING.put(mode, server);
        return server;
    }
}
