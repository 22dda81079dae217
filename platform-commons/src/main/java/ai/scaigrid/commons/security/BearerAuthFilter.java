package ai.scaigrid.commons.security;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.error.RestExceptionMappers;
import io.smallrye.mutiny.Uni;
import io.vertx.core.http.HttpServerRequest;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ResourceInfo;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.Response;
import org.jboss.logging.Logger;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

import java.lang.reflect.AnnotatedElement;
import java.util.Arrays;
import java.util.List;

/**
 * Secure by default: every REST endpoint needs {@code Authorization: Bearer <token>} unless it is
 * marked {@link PublicEndpoint}. The token becomes a {@link Caller} through the service's
 * {@link CallerResolver}; {@link RequiresPermission} is then checked. Every authentication failure
 * is the same 401 envelope, with no hint of which part failed; repeated failures from one source
 * are throttled ({@link AuthFailureLimiter}).
 */
public class BearerAuthFilter {
    private static final Logger LOG = Logger.getLogger(BearerAuthFilter.class);

    @Inject
    Instance<CallerResolver> resolver;

    @Inject
    CurrentCaller currentCaller;

    @Inject
    AuthFailureLimiter limiter;

    @ServerRequestFilter(priority = Priorities.AUTHENTICATION)
    public Uni<Response> authenticate(ContainerRequestContext request, ResourceInfo resource, HttpServerRequest http) {
        if (isPublic(resource)) {
            return Uni.createFrom().nullItem();
        }
        String source = http.remoteAddress() == null ? "unknown" : http.remoteAddress().hostAddress();
        if (limiter.isBlocked(source)) {
            return Uni.createFrom().item(RestExceptionMappers.toResponse(new ApiException(ErrorCode.RATE_LIMITED,
                    "Too many failed authentication attempts", null, limiter.retryAfterSeconds(source), null)));
        }
        String header = request.getHeaderString(HttpHeaders.AUTHORIZATION);
        if (header == null || header.isBlank()) {
            return Uni.createFrom().item(RestExceptionMappers.toResponse(new ApiException(ErrorCode.AUTH_TOKEN_MISSING)));
        }
        if (!header.regionMatches(true, 0, "Bearer ", 0, 7) || header.length() <= 7) {
            limiter.recordFailure(source);
            return Uni.createFrom().item(unauthorized());
        }
        if (!resolver.isResolvable()) {
            LOG.error("no CallerResolver in this service: every authenticated endpoint is refused");
            return Uni.createFrom().item(RestExceptionMappers.toResponse(new ApiException(ErrorCode.SERVICE_UNAVAILABLE,
                    "Authentication is not configured for this service")));
        }
        String token = header.substring(7).trim();
        return resolver.get().resolve(token, CallerResolver.Channel.REST)
                .map(caller -> {
                    currentCaller.set(caller);
                    List<String> required = requiredPermissions(resource);
                    if (!required.isEmpty()) {
                        caller.requireAny(required);
                    }
                    return (Response) null;
                })
                .onFailure().recoverWithItem(failure -> {
                    if (failure instanceof ApiException api) {
                        if (api.httpStatus() == 401) {
                            limiter.recordFailure(source);
                            return unauthorized();
                        }
                        return RestExceptionMappers.toResponse(api);
                    }
                    LOG.errorf(failure, "authentication failed unexpectedly");
                    return RestExceptionMappers.toResponse(new ApiException(ErrorCode.SERVICE_UNAVAILABLE,
                            "Authentication is temporarily unavailable"));
                });
    }

    private static Response unauthorized() {
        return RestExceptionMappers.toResponse(new ApiException(ErrorCode.AUTH_TOKEN_INVALID));
    }

    private static boolean isPublic(ResourceInfo resource) {
        return has(resource.getResourceMethod(), PublicEndpoint.class) || has(resource.getResourceClass(), PublicEndpoint.class);
    }

    private static List<String> requiredPermissions(ResourceInfo resource) {
        RequiresPermission onMethod = resource.getResourceMethod() == null ? null
                : resource.getResourceMethod().getAnnotation(RequiresPermission.class);
        RequiresPermission annotation = onMethod != null ? onMethod
                : resource.getResourceClass() == null ? null : resource.getResourceClass().getAnnotation(RequiresPermission.class);
        return annotation == null ? List.of() : Arrays.asList(annotation.value());
    }

    private static boolean has(AnnotatedElement element, Class<? extends java.lang.annotation.Annotation> type) {
        return element != null && element.isAnnotationPresent(type);
    }
}
