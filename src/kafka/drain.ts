// How long a stopping worker waits for its requests in flight: a module of its own so that the
// usage text can say it without loading the Kafka client.

/** In-flight work gets this long to finish after a stop; then it is abandoned (and redelivered later). */
export const DRAIN_GRACE_MS = 60_000;
