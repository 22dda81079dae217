-- Streamed background responses (docs/inference.md, "Background responses"): their events, kept with the response
-- so that GET /oai/v1/responses/{id}?stream=true&starting_after=N can resume the stream on any replica, while it runs
-- and after. The replica running one writes its events in small batches, and the last ones in the transaction that
-- stores how it ended.
ALTER TABLE oai_responses ADD COLUMN streamed boolean NOT NULL DEFAULT false;
CREATE TABLE oai_response_events (
    response_id     text NOT NULL REFERENCES oai_responses (id) ON DELETE CASCADE,
    sequence_number integer NOT NULL,
    type            text NOT NULL,
    -- the event as sent: {"type": ..., "sequence_number": ..., ...}
    event           text NOT NULL,
    PRIMARY KEY (response_id, sequence_number)
);
