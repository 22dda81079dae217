package ai.scaigrid.commons.vertx;

import io.vertx.core.Context;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * One instance per Vert.x event-loop thread, plus one shared by callers off the event loop; made on
 * first use, all closed together. Meant for HTTP clients: Vert.x hands a pooled connection to
 * whichever caller asks, and a connection owned by another event loop delivers every response event
 * through that loop's task queue (a thread wake-up per event; on a busy two-core host the request
 * waits whenever either loop is descheduled). With one client per loop, a request's upstream
 * connection lives on the loop that serves the request.
 */
public final class PerEventLoop<T> implements AutoCloseable {
    private final Supplier<T> factory;
    private final Consumer<T> closer;
    private final ThreadLocal<T> perLoop = new ThreadLocal<>();
    private final List<T> created = new CopyOnWriteArrayList<>();
    private volatile T shared;

    public PerEventLoop(Supplier<T> factory, Consumer<T> closer) {
        this.factory = factory;
        this.closer = closer;
    }

    /** The calling event loop's instance, or the shared one off the event loop. */
    public T get() {
        if (Context.isOnEventLoopThread()) {
            T mine = perLoop.get();
            if (mine == null) {
                mine = create();
                perLoop.set(mine);
            }
            return mine;
        }
        T s = shared;
        if (s == null) {
            synchronized (this) {
                if (shared == null) {
                    shared = create();
                }
                s = shared;
            }
        }
        return s;
    }

    private T create() {
        T instance = factory.get();
        created.add(instance);
        return instance;
    }

    @Override
    public void close() {
        created.forEach(closer);
    }
}
