-- Resumable bulk loads (`onshi synth`, issue 7): the parameters of the run and each
-- committed chunk of households. A rerun after a kill skips the chunks recorded here; a
-- chunk's rows and its load_chunk row are committed in one transaction.
CREATE TABLE load_run (
    id INTEGER PRIMARY KEY,
    seed INTEGER NOT NULL,
    people INTEGER NOT NULL,
    options TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE TABLE load_chunk (
    chunk INTEGER PRIMARY KEY,
    persons INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    loaded_at INTEGER NOT NULL
);
