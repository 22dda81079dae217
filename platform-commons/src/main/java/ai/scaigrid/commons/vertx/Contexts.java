package ai.scaigrid.commons.vertx;

import io.vertx.core.Context;
import io.vertx.core.Vertx;

/** Handing work back to a Vert.x context from a callback that may run on another thread. */
public final class Contexts {
    private Contexts() {
    }

    /** Runs {@code task} on {@code context}: now when already on it (or when there is none), else as its next task. */
    public static void runOn(Context context, Runnable task) {
        if (context == null || Vertx.currentContext() == context) {
            task.run();
        } else {
            context.runOnContext(v -> task.run());
        }
    }
}
