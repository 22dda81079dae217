-- Audio priced by the minute, as OpenAI prices whisper-1 ($0.006 a minute): what a minute of audio taken in costs on
-- a frontend model; NULL = audio time is not charged. Usage records keep the seconds of audio a request took in.
ALTER TABLE frontend_models ADD COLUMN price_per_audio_minute numeric(12, 4);
ALTER TABLE usage_records ADD COLUMN audio_seconds numeric(12, 3) NOT NULL DEFAULT 0;
