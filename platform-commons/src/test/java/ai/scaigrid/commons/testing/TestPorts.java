package ai.scaigrid.commons.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/** Ports for the servers tests start as child processes (a real gateway, node-agents, Keycloak). */
public final class TestPorts {
    private static final Set<Integer> HANDED_OUT = ConcurrentHashMap.newKeySet();

    private TestPorts() {
    }

    /**
     * A port that is free now, chosen BELOW the kernel's ephemeral range (32768+): a port the kernel
     * hands out for {@code new ServerSocket(0)} can be taken by any outgoing connection before the
     * child process binds it (seen here: a node-agent failing to start with "port in use"); one
     * outside that range can only be taken by another listener. A port is handed out once per JVM:
     * child processes bind theirs only once they run, so a second call before then would find the
     * first one's port still free (seen: two node-agents started together given the same port).
     */
    public static int free() {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        for (int attempt = 0; attempt < 500; attempt++) {
            int port = random.nextInt(20_000, 32_000);
            if (!HANDED_OUT.add(port)) {
                continue;
            }
            try (ServerSocket s = new ServerSocket()) {
                s.setReuseAddress(true);
                s.bind(new InetSocketAddress("127.0.0.1", port));
                return port;
            } catch (IOException taken) {
                // try another
            }
        }
        throw new UncheckedIOException(new IOException("no free port between 20000 and 32000"));
    }
}
