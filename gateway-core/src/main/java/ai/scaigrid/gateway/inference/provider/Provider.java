package ai.scaigrid.gateway.inference.provider;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;

/**
 * One provider type ({@code openai}, {@code scaiinfer}, {@code scaicore} ...): turns a normalised
 * request into calls on one concrete backend. The dispatcher picks backends, fails over, keeps
 * circuit breakers and writes usage; a provider only talks to its upstream.
 *
 * <p>Shapes are OpenAI's, so every upstream looks the same to the dispatcher: {@link #chat} yields a
 * {@code chat.completion} object, {@link #streamChat} {@code chat.completion.chunk} objects (the last
 * one carries {@code usage} when the upstream reports it), {@link #embed} an embeddings list, {@link #generateImages}
 * an images response.
 *
 * <p>Failures are {@link UpstreamFailure}s. All three methods are lazy: nothing is sent before
 * subscription, and cancelling the subscription aborts the upstream call at once.
 */
public interface Provider {

    /** The {@code provider_type} this provider serves. */
    String type();

    /** Every {@code provider_type} routed to this provider (by default only {@link #type()}). */
    default java.util.Set<String> types() {
        return java.util.Set.of(type());
    }

    Uni<ObjectNode> chat(BackendTarget backend, ProviderCall call);

    Multi<ObjectNode> streamChat(BackendTarget backend, ProviderCall call);

    Uni<ObjectNode> embed(BackendTarget backend, ProviderCall call);

    /** Whether backends of this provider can generate images ({@link #generateImages}); the dispatcher skips those that cannot. */
    default boolean generatesImages() {
        return false;
    }

    /**
     * Image generation: {@code call.body()} is a validated OpenAI images request (prompt, n, size ...); the answer
     * is OpenAI's images response ({@code {"created":..., "data":[{"url"|"b64_json":..., "revised_prompt":...}]}},
     * with {@code usage} in its input/output token shape when the upstream reports it).
     */
    default Uni<ObjectNode> generateImages(BackendTarget backend, ProviderCall call) {
        return Uni.createFrom().failure(new UpstreamFailure(ai.scaigrid.commons.error.ErrorCode.BACKEND_ERROR,
                "Backends of type " + backend.providerType() + " cannot generate images", false, null, null));
    }

    /**
     * Image edits: {@code call.body()} holds the validated form fields of an OpenAI edit request (prompt, n, size ...),
     * {@code files} the images ({@code image} or {@code image[]}) and the optional {@code mask}, by their field names as
     * the client sent them. The answer is OpenAI's images response.
     */
    default Uni<ObjectNode> editImages(BackendTarget backend, ProviderCall call,
                                       java.util.List<java.util.Map.Entry<String, Upload>> files) {
        return Uni.createFrom().failure(new UpstreamFailure(ai.scaigrid.commons.error.ErrorCode.BACKEND_ERROR,
                "Backends of type " + backend.providerType() + " cannot edit images", false, null, null));
    }

    /**
     * Image variations (DALL-E 2): {@code call.body()} holds the validated form fields (n, size, response_format,
     * user), {@code files} the one {@code image}. The answer is OpenAI's images response.
     */
    default Uni<ObjectNode> imageVariations(BackendTarget backend, ProviderCall call,
                                            java.util.List<java.util.Map.Entry<String, Upload>> files) {
        return Uni.createFrom().failure(new UpstreamFailure(ai.scaigrid.commons.error.ErrorCode.BACKEND_ERROR,
                "Backends of type " + backend.providerType() + " cannot make image variations", false, null, null));
    }

    /**
     * Whether this backend has a native text-completion endpoint, which alone answers several prompts, token-id prompts
     * and echo with logprobs ({@link ProviderCall#completionPrompt}); the dispatcher skips backends that have none.
     */
    default boolean completesTextNatively(BackendTarget backend) {
        return false;
    }

    /** Whether backends of this provider classify content ({@link #moderate}); the dispatcher skips those that cannot. */
    default boolean moderates() {
        return false;
    }

    /**
     * Moderation: {@code call.body()} is a validated OpenAI moderation request ({@code input}: text, texts, or text and
     * image parts); the answer is OpenAI's moderation object ({@code {"id", "model", "results": [{"flagged",
     * "categories", "category_scores", ...}]}}), one result per input.
     */
    default Uni<ObjectNode> moderate(BackendTarget backend, ProviderCall call) {
        return Uni.createFrom().failure(new UpstreamFailure(ai.scaigrid.commons.error.ErrorCode.BACKEND_ERROR,
                "Backends of type " + backend.providerType() + " cannot moderate", false, null, null));
    }

    /** Whether backends of this provider speak audio ({@link #synthesizeSpeech}, {@link #transcribe}); others are skipped. */
    default boolean servesAudio() {
        return false;
    }

    /**
     * Text to speech: {@code call.body()} is a validated OpenAI speech request (input, voice, response_format ...);
     * the answer is the audio as the upstream sent it, with its content type.
     */
    default Uni<UpstreamHttp.RawAnswer> synthesizeSpeech(BackendTarget backend, ProviderCall call) {
        return Uni.createFrom().failure(new UpstreamFailure(ai.scaigrid.commons.error.ErrorCode.BACKEND_ERROR,
                "Backends of type " + backend.providerType() + " cannot synthesize speech", false, null, null));
    }

    /**
     * Speech to text: {@code call.body()} holds the validated form fields of an OpenAI transcription request
     * (language, prompt, response_format ...), {@code audio} the uploaded file. The answer is the upstream's:
     * JSON ({@code json}, {@code verbose_json}) or text ({@code text}, {@code srt}, {@code vtt}). {@code translate}: into
     * English ({@code /audio/translations}) rather than in the spoken language.
     */
    default Uni<UpstreamHttp.RawAnswer> transcribe(BackendTarget backend, ProviderCall call, Upload audio, boolean translate) {
        return Uni.createFrom().failure(new UpstreamFailure(ai.scaigrid.commons.error.ErrorCode.BACKEND_ERROR,
                "Backends of type " + backend.providerType() + " cannot transcribe audio", false, null, null));
    }

    /**
     * Whether one call can answer several choices (OpenAI's {@code n}). The dispatcher skips backends that
     * cannot for such requests, so a provider that answers false never sees {@code n} above 1.
     */
    default boolean answersSeveralChoices() {
        return false;
    }

    /** Whether providers of this type can list the models they offer ({@link #listModels}). */
    default boolean listsModels(String providerType) {
        return false;
    }

    /**
     * The models a provider offers, in OpenAI's list shape ({@code {"data":[{"id":...}]}}), asked with
     * the provider's own settings and credentials (provider discovery). Failures are
     * {@link UpstreamFailure}s with code PROVIDER_DISCOVERY_ERROR naming only what went wrong.
     */
    default Uni<com.fasterxml.jackson.databind.JsonNode> listModels(BackendTarget provider, java.time.Duration timeout) {
        return Uni.createFrom().failure(new UpstreamFailure(ai.scaigrid.commons.error.ErrorCode.PROVIDER_DISCOVERY_ERROR,
                "Providers of type " + provider.providerType() + " cannot list their models", false, null, null));
    }
}
