-- The original service's schema, as TypeORM created it: quoted camelCase
-- columns, uuid key, text[] technologies. IF NOT EXISTS so that pointing this
-- service at the original's existing database adopts the table unchanged.
CREATE TABLE IF NOT EXISTS projects (
    "id" uuid NOT NULL DEFAULT gen_random_uuid(),
    "title" character varying(200) NOT NULL,
    "description" text NOT NULL,
    "imageUrl" character varying(500),
    "projectUrl" character varying(500),
    "githubUrl" character varying(500),
    "technologies" text[],
    "isActive" boolean NOT NULL DEFAULT true,
    "sortOrder" integer NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP NOT NULL DEFAULT now(),
    "updatedAt" TIMESTAMP NOT NULL DEFAULT now(),
    CONSTRAINT "PK_projects_id" PRIMARY KEY ("id")
);

-- Only when the column has no index yet (the original's TypeORM-named
-- indexes count), so adoption does not duplicate them.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = 'projects'::regclass AND a.attname = 'isActive'
    ) THEN
        CREATE INDEX "IDX_projects_isActive" ON projects ("isActive");
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = 'projects'::regclass AND a.attname = 'sortOrder'
    ) THEN
        CREATE INDEX "IDX_projects_sortOrder" ON projects ("sortOrder");
    END IF;
END
$$;
