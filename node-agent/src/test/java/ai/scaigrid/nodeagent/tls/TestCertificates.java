package ai.scaigrid.nodeagent.tls;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Key;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A throw-away CA and certificates for TLS tests, made with the JDK's own keytool (no extra
 * libraries): PEM certificate chains, PKCS#8 PEM keys and a PKCS#12 trust store with the CA.
 */
final class TestCertificates {
    static final String PASSWORD = "changeit";

    final Path dir;
    final Path caCert;
    final Path trustStore;

    private TestCertificates(Path dir) {
        this.dir = dir;
        this.caCert = dir.resolve("ca.crt");
        this.trustStore = dir.resolve("truststore.p12");
    }

    /** A certificate issued by the CA: its PEM chain and its PEM (PKCS#8) key. */
    record Issued(Path certificate, Path key) {
    }

    static TestCertificates create() throws Exception {
        TestCertificates c = new TestCertificates(Files.createTempDirectory("scaigrid-tls"));
        Path ca = c.dir.resolve("ca.p12");
        c.keytool("-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=scaigrid-test-ca",
                "-ext", "bc:c", "-validity", "2", "-keystore", ca.toString(), "-storetype", "PKCS12", "-storepass", PASSWORD);
        c.keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", ca.toString(), "-storepass", PASSWORD,
                "-file", c.caCert.toString());
        c.keytool("-importcert", "-noprompt", "-alias", "ca", "-file", c.caCert.toString(), "-keystore", c.trustStore.toString(),
                "-storetype", "PKCS12", "-storepass", PASSWORD);
        return c;
    }

    /** A leaf certificate for {@code cn}, valid for 127.0.0.1 and localhost, signed by the CA. */
    Issued issue(String cn) throws Exception {
        Path store = dir.resolve(cn + ".p12");
        Path csr = dir.resolve(cn + ".csr");
        Path cert = dir.resolve(cn + ".crt");
        keytool("-genkeypair", "-alias", cn, "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=" + cn,
                "-validity", "2", "-keystore", store.toString(), "-storetype", "PKCS12", "-storepass", PASSWORD);
        keytool("-certreq", "-alias", cn, "-keystore", store.toString(), "-storepass", PASSWORD, "-file", csr.toString());
        keytool("-gencert", "-rfc", "-alias", "ca", "-keystore", dir.resolve("ca.p12").toString(), "-storepass", PASSWORD,
                "-infile", csr.toString(), "-outfile", cert.toString(), "-validity", "2",
                "-ext", "SAN=ip:127.0.0.1,dns:localhost");
        // the chain the peer needs: leaf then CA
        Files.writeString(cert, Files.readString(cert).trim() + "\n" + Files.readString(caCert).trim() + "\n");
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(store)) {
            ks.load(in, PASSWORD.toCharArray());
        }
        Key key = ks.getKey(cn, PASSWORD.toCharArray());
        Path keyFile = dir.resolve(cn + ".key");
        Files.writeString(keyFile, "-----BEGIN PRIVATE KEY-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(key.getEncoded())
                + "\n-----END PRIVATE KEY-----\n");
        return new Issued(cert, keyFile);
    }

    private void keytool(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException("keytool " + String.join(" ", args) + " failed: " + out);
        }
    }
}
