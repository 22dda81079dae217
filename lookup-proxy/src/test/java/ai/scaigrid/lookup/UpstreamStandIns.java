package ai.scaigrid.lookup;

import com.github.tomakehurst.wiremock.WireMockServer;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.util.LinkedHashMap;
import java.util.Map;

import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;

/**
 * ScaiQueue, ScaiBunker and a foreign ScaiGrid deployment are systems we do not own: each is a local
 * WireMock server here. Delayed answers are asynchronous, so a slow stand-in holds no threads. Tests
 * stub and verify them through WireMock's admin API on the ports published as system properties
 * (visible whatever class loader a test runs in).
 */
public class UpstreamStandIns implements QuarkusTestResourceLifecycleManager {
    public static final String[] NAMES = {"scaiqueue", "scaibunker", "scaigrid"};
    private final Map<String, WireMockServer> servers = new LinkedHashMap<>();

    @Override
    public Map<String, String> start() {
        Map<String, String> config = new LinkedHashMap<>();
        for (String name : NAMES) {
            WireMockServer server = new WireMockServer(options().dynamicPort().bindAddress("127.0.0.1")
                    .asynchronousResponseEnabled(true).asynchronousResponseThreads(16).containerThreads(32));
            server.start();
            servers.put(name, server);
            System.setProperty(portProperty(name), Integer.toString(server.port()));
            config.put("scaigrid.test." + name + "-url", "http://127.0.0.1:" + server.port());
        }
        return config;
    }

    @Override
    public void stop() {
        servers.values().forEach(WireMockServer::stop);
        for (String name : NAMES) {
            System.clearProperty(portProperty(name));
        }
    }

    static String portProperty(String name) {
        return "scaigrid.test.wiremock." + name + ".port";
    }
}
