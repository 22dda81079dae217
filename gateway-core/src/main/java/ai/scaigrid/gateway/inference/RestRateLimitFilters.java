package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.RestExceptionMappers;
import ai.scaigrid.commons.security.CurrentCaller;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerResponseContext;
import jakarta.ws.rs.core.Response;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;
import org.jboss.resteasy.reactive.server.ServerResponseFilter;

/**
 * The per-minute request limits (key, user, tenant, partner) on every authenticated REST request,
 * not only on inference (reference §2.3: all levels apply to each request). Runs right after
 * authentication, so a refused caller costs no database work; admitted responses carry the
 * {@code X-Scaigrid-Ratelimit-*} headers of the most restrictive level.
 */
public class RestRateLimitFilters {
    private static final String RATE = RestRateLimitFilters.class.getName() + ".rate";

    @Inject
    Limits limits;

    @Inject
    CurrentCaller currentCaller;

    @ServerRequestFilter(priority = Priorities.AUTHENTICATION + 100)
    public Uni<Response> admit(ContainerRequestContext request) {
        if (!currentCaller.isPresent()) {
            return Uni.createFrom().nullItem(); // a public endpoint: it limits by address itself if it must
        }
        return limits.admitRequest(currentCaller.get())
                .map(rate -> {
                    request.setProperty(RATE, rate);
                    return (Response) null;
                })
                .onFailure(ApiException.class).recoverWithItem(failure -> RestExceptionMappers.toResponse((ApiException) failure));
    }

    @ServerResponseFilter
    public void rateHeaders(ContainerRequestContext request, ContainerResponseContext response) {
        if (request.getProperty(RATE) instanceof Limits.RateState rate) {
            rate.headers().forEach((name, value) -> response.getHeaders().putSingle(name, value));
        }
    }
}
