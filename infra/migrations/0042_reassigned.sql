-- v2 re-routing (SPEC §4.2): how many `reassigned` announcements a dispatch has had. Every
-- dispatch.assigned after the first one carries ":<n>" in its id name (schemas.ids).
ALTER TABLE dispatches ADD COLUMN reassigned integer NOT NULL DEFAULT 0;
