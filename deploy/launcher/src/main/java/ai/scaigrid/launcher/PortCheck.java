package ai.scaigrid.launcher;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;

/** Whether the ports a run needs are free, checked by binding them the way the services will. */
final class PortCheck {
    private PortCheck() {
    }

    /** A port that cannot be used, and why ("Address already in use"). */
    record Problem(PortPlan.Needed port, String reason) {
    }

    static List<Problem> problems(List<PortPlan.Needed> ports) {
        List<Problem> problems = new ArrayList<>();
        for (PortPlan.Needed p : ports) {
            String reason = bindProblem(p.host(), p.port());
            if (reason != null) {
                problems.add(new Problem(p, reason));
            }
        }
        return problems;
    }

    /** null when host:port can be bound right now. */
    static String bindProblem(String host, int port) {
        try (ServerSocket socket = new ServerSocket()) {
            // like Vert.x and PostgreSQL: a port in TIME_WAIT is fine, one with a listener is not
            socket.setReuseAddress(true);
            socket.bind(new InetSocketAddress(host, port));
            return null;
        } catch (IOException e) {
            return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        }
    }
}
