-- Messages (masked question and answer) and feedback on them; the same shape as the SQLite store.
CREATE TABLE messages (
    message_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    user_id TEXT,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    in_scope BOOLEAN NOT NULL,
    measure TEXT,
    reason TEXT,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX messages_created ON messages (created_at);
CREATE TABLE feedback (
    id BIGSERIAL PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages (message_id) ON DELETE CASCADE,
    helpful BOOLEAN NOT NULL,
    comment TEXT,
    user_id TEXT,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX feedback_message ON feedback (message_id);
