package ai.scaigrid.launcher.standin;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Collectors;

/** A fake checkout: {@code <module>/target/quarkus-app/quarkus-run.jar} for each module, each running {@link FakeService}. */
public final class StandInRoot {
    private StandInRoot() {
    }

    public static Path create(Path root, List<String> modules) throws IOException {
        Files.createDirectories(root.resolve("gateway-core"));
        for (String module : modules) {
            Path dir = Files.createDirectories(root.resolve(module).resolve("target").resolve("quarkus-app"));
            Manifest manifest = new Manifest();
            Attributes a = manifest.getMainAttributes();
            a.put(Attributes.Name.MANIFEST_VERSION, "1.0");
            a.put(Attributes.Name.MAIN_CLASS, FakeService.class.getName());
            a.put(Attributes.Name.CLASS_PATH, classPathRelativeTo(dir));
            try (OutputStream out = Files.newOutputStream(dir.resolve("quarkus-run.jar"));
                 JarOutputStream jar = new JarOutputStream(out, manifest)) {
                jar.flush();
            }
        }
        return root;
    }

    /** This JVM's class path (test classes, the PostgreSQL driver, ...) as relative manifest entries. */
    private static String classPathRelativeTo(Path dir) {
        return List.of(System.getProperty("java.class.path").split(File.pathSeparator)).stream()
                .filter(e -> !e.isBlank())
                .map(e -> Path.of(e).toAbsolutePath())
                .map(p -> {
                    String rel = dir.toAbsolutePath().relativize(p).toString().replace(File.separatorChar, '/');
                    return Files.isDirectory(p) ? rel + "/" : rel;
                })
                .collect(Collectors.joining(" "));
    }
}
