-- One row the store's writer rewrites while writes are failing (a full disk, a database that
-- went away): the first probe that commits tells it, and `/healthz`, that writes work again.
CREATE TABLE store_probe (
    id BIGINT PRIMARY KEY,
    checked_at TEXT NOT NULL
);
