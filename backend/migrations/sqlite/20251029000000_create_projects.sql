-- SQLite equivalent of the original schema: technologies as JSON text,
-- timestamps as epoch milliseconds.
CREATE TABLE IF NOT EXISTS projects (
    "id" TEXT NOT NULL PRIMARY KEY,
    "title" TEXT NOT NULL CHECK (length("title") <= 200),
    "description" TEXT NOT NULL,
    "imageUrl" TEXT CHECK (length("imageUrl") <= 500),
    "projectUrl" TEXT CHECK (length("projectUrl") <= 500),
    "githubUrl" TEXT CHECK (length("githubUrl") <= 500),
    "technologies" TEXT,
    "isActive" INTEGER NOT NULL DEFAULT 1,
    "sortOrder" INTEGER NOT NULL DEFAULT 0,
    "createdAt" INTEGER NOT NULL,
    "updatedAt" INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS "IDX_projects_isActive" ON projects ("isActive");
CREATE INDEX IF NOT EXISTS "IDX_projects_sortOrder" ON projects ("sortOrder");
