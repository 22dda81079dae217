package ai.scaigrid.nodeagent;

import ai.scaigrid.nodeagent.backend.Backends;
import ai.scaigrid.proto.scaiinfer.v1.LoadedModel;
import ai.scaigrid.proto.scaiinfer.v1.ModelCapabilities;
import ai.scaigrid.proto.scaiinfer.v1.ModelState;

/** How a configured model is described to the gateway (heartbeats, ListModels). */
final class NodeModels {
    private NodeModels() {
    }

    static ModelCapabilities capabilities(Backends.Served s) {
        boolean embedding = s.config().modality().equals("embedding");
        boolean simulated = s.backend().engine().equals("simulated");
        return ModelCapabilities.newBuilder()
                .setStreaming(!embedding)
                .setToolUse(!embedding)
                .setJsonMode(!embedding)
                .setEmbeddings(embedding || simulated)
                .build();
    }

    static LoadedModel loaded(Backends.Served s, int inFlight) {
        return LoadedModel.newBuilder()
                .setName(s.name())
                .setContextWindow(s.config().contextWindow())
                .setMaxOutputTokens(s.config().maxOutputTokens())
                .setQuantization(s.config().quantization().orElse(""))
                .setState(ModelState.MODEL_STATE_READY)
                .setModality(s.config().modality())
                .setCapabilities(capabilities(s))
                .setInFlight(inFlight)
                .build();
    }
}
