package ai.scaigrid.gateway.catalog;

import ai.scaigrid.commons.api.Envelope;
import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.CurrentCaller;
import ai.scaigrid.commons.security.Permissions;
import ai.scaigrid.commons.security.PublicEndpoint;
import ai.scaigrid.commons.security.RequiresPermission;
import ai.scaigrid.gateway.inference.Limits;
import io.smallrye.common.annotation.Blocking;
import io.smallrye.mutiny.Uni;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.resteasy.reactive.RestForm;
import org.jboss.resteasy.reactive.multipart.FileUpload;

import java.io.IOException;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;

/**
 * A model's avatar (reference §1.3): {@code POST /v1/models/{model_id}/avatar} (multipart {@code file},
 * {@code models:manage} over the model) stores a PNG, JPEG, WebP or GIF of at most
 * {@code scaigrid.catalog.avatar-max-bytes} and points the model's {@code avatar_url} at
 * {@code GET /v1/models/{model_id}/avatar}, which is public (browsers load it in an img tag) and cacheable.
 * The type is read from the image's own first bytes, never from what the client declared.
 */
@Path("/v1/models/{modelId}/avatar")
public class ModelAvatarResource {

    @Inject
    Pool pool;

    @Inject
    CatalogService catalog;

    @Inject
    CurrentCaller caller;

    @Inject
    Limits limits;

    @ConfigProperty(name = "scaigrid.catalog.avatar-max-bytes", defaultValue = "524288")
    int maxBytes;

    @POST
    @Blocking // the multipart file is read from disk
    @Consumes(MediaType.MULTIPART_FORM_DATA)
    @Produces(MediaType.APPLICATION_JSON)
    @RequiresPermission(Permissions.MODELS_MANAGE)
    public Uni<Envelope<CatalogModels.FrontendModel>> upload(@PathParam("modelId") String modelId, @RestForm("file") FileUpload file) {
        if (file == null) {
            throw ApiException.validation("file", "a multipart part named file with the image is required");
        }
        if (file.size() > maxBytes) {
            throw new ApiException(ErrorCode.PAYLOAD_TOO_LARGE, "The avatar is larger than " + maxBytes + " bytes",
                    Map.of("max_bytes", maxBytes));
        }
        byte[] image;
        try {
            image = Files.readAllBytes(file.uploadedFile());
        } catch (IOException e) {
            throw ApiException.validation("file", "the uploaded file could not be read");
        }
        String type = imageType(image);
        if (type == null) {
            throw ApiException.validation("file", "the avatar must be a PNG, JPEG, WebP or GIF image");
        }
        String etag = etag(image);
        String url = "/v1/models/" + modelId + "/avatar";
        // only someone who may change the model may change its face
        return catalog.updateFrontend(caller.get(), modelId, new CatalogModels.FrontendModelRequest(null, null, null, null, null,
                        null, null, null, url, null, null, null, null, null, null, null, null, null, null, null, null, null))
                .call(m -> pool.preparedQuery("""
                                INSERT INTO model_avatars (model_id, content_type, image, etag) VALUES ($1, $2, $3, $4)
                                ON CONFLICT (model_id) DO UPDATE SET content_type = EXCLUDED.content_type, image = EXCLUDED.image,
                                    etag = EXCLUDED.etag, updated_at = now()""")
                        .execute(Tuple.of(m.id(), type, Buffer.buffer(image), etag)))
                .map(Envelope::of);
    }

    @GET
    @PublicEndpoint
    public Uni<Response> get(@PathParam("modelId") String modelId, @HeaderParam("If-None-Match") String ifNoneMatch,
                             @Context HttpServerRequest http) {
        // no credential to count against: limited per client address (429 RATE_LIMITED, scope ip)
        Limits.RateState rate = limits.admitAnonymous(http.remoteAddress() == null ? "unknown" : http.remoteAddress().hostAddress());
        return pool.preparedQuery("""
                        SELECT a.content_type, a.image, a.etag FROM model_avatars a JOIN frontend_models f ON f.id = a.model_id
                        WHERE f.id = $1 OR f.slug = $1""").execute(Tuple.of(modelId))
                .map(rows -> {
                    if (rows.size() == 0) {
                        throw new ApiException(ErrorCode.NOT_FOUND, "This model has no avatar", Map.of("model_id", modelId));
                    }
                    Row r = rows.iterator().next();
                    String etag = "\"" + r.getString("etag") + "\"";
                    Response.ResponseBuilder out = etag.equals(ifNoneMatch) ? Response.notModified().tag(r.getString("etag"))
                            : Response.ok(r.getBuffer("image").getBytes(), r.getString("content_type"))
                            .header("ETag", etag).header("Cache-Control", "public, max-age=300")
                            .header("X-Content-Type-Options", "nosniff");
                    rate.headers().forEach(out::header);
                    return out.build();
                });
    }

    /** The image type from its signature, or null when it is none of the accepted ones. */
    static String imageType(byte[] b) {
        if (b.length >= 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') {
            return "image/png";
        }
        if (b.length >= 3 && (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xD8 && (b[2] & 0xff) == 0xFF) {
            return "image/jpeg";
        }
        if (b.length >= 12 && b[0] == 'R' && b[1] == 'I' && b[2] == 'F' && b[3] == 'F' && b[8] == 'W' && b[9] == 'E' && b[10] == 'B'
                && b[11] == 'P') {
            return "image/webp";
        }
        if (b.length >= 6 && b[0] == 'G' && b[1] == 'I' && b[2] == 'F' && b[3] == '8' && (b[4] == '7' || b[4] == '9') && b[5] == 'a') {
            return "image/gif";
        }
        return null;
    }

    private static String etag(byte[] image) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(image), 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
