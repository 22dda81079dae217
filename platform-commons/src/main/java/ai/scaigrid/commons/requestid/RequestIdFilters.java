package ai.scaigrid.commons.requestid;

import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerResponseContext;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;
import org.jboss.resteasy.reactive.server.ServerResponseFilter;

/** REST side of request ids: accept or generate on the way in, echo in {@code X-Request-Id} on the way out. */
public class RequestIdFilters {

    @ServerRequestFilter(preMatching = true, priority = 1)
    public void assignRequestId(ContainerRequestContext request) {
        String id = RequestIds.acceptOrGenerate(request.getHeaderString(RequestIds.HTTP_HEADER));
        request.setProperty(RequestIds.MDC_KEY, id);
        RequestIds.bind(id);
    }

    @ServerResponseFilter
    public void echoRequestId(ContainerRequestContext request, ContainerResponseContext response) {
        Object id = request.getProperty(RequestIds.MDC_KEY);
        String value = id != null ? id.toString() : RequestIds.currentOrGenerate();
        response.getHeaders().putSingle(RequestIds.HTTP_HEADER, value);
    }
}
