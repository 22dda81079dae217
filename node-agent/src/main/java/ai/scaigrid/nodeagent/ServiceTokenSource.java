package ai.scaigrid.nodeagent;

import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.Optional;

/**
 * This node's service token: from {@code scaigrid.node.service-token}, or read from
 * {@code scaigrid.node.service-token-file} (re-read by {@link #reload()} so that a launcher or a
 * secret mount can provide it after the node started, and rotate it).
 */
@ApplicationScoped
public class ServiceTokenSource {
    private static final Logger LOG = Logger.getLogger(ServiceTokenSource.class);

    @Inject
    NodeAgentConfig config;

    private volatile String token;
    private volatile Stamp fileStamp;

    /**
     * One version of the token file, compared field by field so that two versions never look alike; the file
     * key (inode) also tells a secret mount's new file behind a symlink apart within the time resolution.
     */
    private record Stamp(FileTime modified, long size, Object fileKey) {
    }

    @PostConstruct
    void init() {
        token = config.serviceToken().filter(s -> !s.isBlank()).map(String::trim).orElse(null);
        if (token == null) {
            reload();
        }
    }

    public Optional<String> current() {
        return Optional.ofNullable(token);
    }

    /** Re-reads the token file if it changed (blocking file I/O: call it off the event loop). */
    public void reload() {
        if (config.serviceToken().filter(s -> !s.isBlank()).isPresent() || config.serviceTokenFile().isEmpty()) {
            return;
        }
        Path file = Path.of(config.serviceTokenFile().get());
        try {
            if (!Files.isRegularFile(file)) {
                return;
            }
            BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
            Stamp stamp = new Stamp(attributes.lastModifiedTime(), attributes.size(), attributes.fileKey());
            if (stamp.equals(fileStamp)) {
                return;
            }
            String read = Files.readString(file, StandardCharsets.UTF_8).trim();
            fileStamp = stamp;
            if (!read.isEmpty()) {
                if (token == null) {
                    LOG.infof("service token read from %s", file);
                } else if (!token.equals(read)) {
                    LOG.infof("service token in %s changed (rotated)", file);
                }
                token = read;
            }
        } catch (IOException e) {
            LOG.warnf("cannot read the service token file %s: %s", file, e.getMessage());
        }
    }
}
