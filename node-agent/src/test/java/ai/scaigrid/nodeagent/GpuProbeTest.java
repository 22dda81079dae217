package ai.scaigrid.nodeagent;

import ai.scaigrid.proto.scaiinfer.v1.GpuStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** GpuProbe against stand-in {@code nvidia-smi} shell scripts: parsing, units, and runs that fail or hang. */
class GpuProbeTest {
    /** Two GPUs as nvidia-smi prints them; the second cannot give memory use, utilisation or temperature. */
    static final String TWO_GPUS = """
            0, GPU-3f1c0000-aaaa-bbbb-cccc-000000000001, NVIDIA A100-SXM4-80GB, 81920, 1024, 35, 41
            1, GPU-3f1c0000-aaaa-bbbb-cccc-000000000002, NVIDIA GeForce RTX 3090, 24576, [N/A], [Not Supported], [N/A]
            """;

    /** A fake nvidia-smi that prints {@code output} when asked the probe's exact question, and fails otherwise. */
    static Path fakeNvidiaSmi(Path dir, String output) throws IOException {
        return script(dir, "nvidia-smi", """
                #!/bin/sh
                [ "$1" = "%s" ] && [ "$2" = "%s" ] || { echo "unexpected arguments: $*"; exit 2; }
                cat <<'EOF'
                %sEOF
                """.formatted(GpuProbe.QUERY, GpuProbe.FORMAT, output));
    }

    static Path script(Path dir, String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        return p;
    }

    @Test
    void parsesTwoGpusWithMissingValuesAsAbsent(@TempDir Path dir) throws IOException {
        GpuProbe probe = new GpuProbe(fakeNvidiaSmi(dir, TWO_GPUS), Duration.ofSeconds(5));
        probe.refresh();

        assertThat(probe.gpus()).containsExactly(
                new GpuProbe.Gpu(0, "GPU-3f1c0000-aaaa-bbbb-cccc-000000000001", "NVIDIA A100-SXM4-80GB", 81920L, 1024L, 35.0, 41.0),
                new GpuProbe.Gpu(1, "GPU-3f1c0000-aaaa-bbbb-cccc-000000000002", "NVIDIA GeForce RTX 3090", 24576L, null, null, null));
        List<GpuStatus> reported = probe.current();
        assertThat(reported).hasSize(2);
        // heartbeat.proto: bytes, and utilisation as a fraction
        assertThat(reported.get(0).getMemoryTotalBytes()).isEqualTo(81920L * 1024 * 1024);
        assertThat(reported.get(0).getMemoryUsedBytes()).isEqualTo(1024L * 1024 * 1024);
        assertThat(reported.get(0).getUtilization()).isEqualTo(0.35);
        assertThat(reported.get(0).getTemperatureCelsius()).isEqualTo(41.0);
        assertThat(reported.get(1).getName()).isEqualTo("NVIDIA GeForce RTX 3090");
        assertThat(reported.get(1).getMemoryTotalBytes()).isEqualTo(24576L * 1024 * 1024);
        assertThat(reported.get(1).getMemoryUsedBytes()).isZero();
        assertThat(reported.get(1).getUtilization()).isZero();
        assertThat(reported.get(1).getTemperatureCelsius()).isZero(); // 0 = unknown
        assertThat(probe.status()).contains("nvidia-smi at");
    }

    @Test
    void oddLinesAndValuesAreNoErrors() {
        assertThat(GpuProbe.parse("""
                garbage
                2, [N/A], Some GPU, with a comma, 16384 MiB, 12 MiB, 7 %, 50

                [Unknown Error], GPU-x, Odd\u0000GPU, abc, -1, [GPU requires reset], NaN
                """)).containsExactly(
                new GpuProbe.Gpu(2, null, "Some GPU, with a comma", 16384L, 12L, 7.0, 50.0),
                new GpuProbe.Gpu(1, "GPU-x", "OddGPU", null, null, null, null));
        assertThat(GpuProbe.parse("")).isEmpty();
    }

    @Test
    void aFailingNvidiaSmiReportsNoGpus(@TempDir Path dir) throws IOException {
        Path good = fakeNvidiaSmi(dir, TWO_GPUS);
        GpuProbe probe = new GpuProbe(good, Duration.ofSeconds(5));
        probe.refresh();
        assertThat(probe.current()).hasSize(2);

        // the same path now fails: the figures of the last good run are dropped, not kept stale
        script(dir, "nvidia-smi", """
                #!/bin/sh
                echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
                exit 9
                """);
        probe.refresh();
        assertThat(probe.current()).isEmpty();
        assertThat(probe.gpus()).isEmpty();
        assertThat(probe.status()).contains("exited with 9").contains("couldn't communicate");

        // and it recovers
        fakeNvidiaSmi(dir, TWO_GPUS);
        probe.refresh();
        assertThat(probe.current()).hasSize(2);
    }

    @Test
    void aHangingNvidiaSmiIsKilledAtTheTimeout(@TempDir Path dir) throws Exception {
        Path pids = dir.resolve("pids");
        Path hanging = script(dir, "nvidia-smi", """
                #!/bin/sh
                sleep 30 &
                echo "$$ $!" > '%s'
                wait
                """.formatted(pids));
        GpuProbe probe = new GpuProbe(hanging, Duration.ofMillis(500));
        long start = System.nanoTime();
        probe.refresh();
        long tookMs = (System.nanoTime() - start) / 1_000_000;

        assertThat(tookMs).isBetween(400L, 3000L);
        assertThat(probe.current()).isEmpty();
        assertThat(probe.status()).contains("no answer within 500 ms");
        // the script and the child it started are both gone
        String[] started = Files.readString(pids).strip().split(" ");
        for (String pid : started) {
            await().atMost(Duration.ofSeconds(5)).until(() ->
                    ProcessHandle.of(Long.parseLong(pid)).map(h -> !h.isAlive()).orElse(true));
        }
    }

    @Test
    void noExecutableMeansNoProbe(@TempDir Path dir) throws IOException {
        assertThat(GpuProbe.resolve("no-such-nvidia-smi-on-this-path")).isNull();
        assertThat(GpuProbe.resolve(dir.resolve("missing").toString())).isNull();
        Path notExecutable = Files.writeString(dir.resolve("nvidia-smi"), "#!/bin/sh\n");
        assertThat(GpuProbe.resolve(notExecutable.toString())).isNull();
        assertThat(GpuProbe.resolve("sh")).isNotNull(); // a name is looked up on PATH

        // an executable that cannot be started is a failed run, not an exception
        GpuProbe probe = new GpuProbe(dir.resolve("missing"), Duration.ofSeconds(1));
        probe.refresh();
        assertThat(probe.current()).isEmpty();
        assertThat(probe.status()).startsWith("cannot run");
    }
}
