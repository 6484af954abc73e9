-- A run's plan: what the planner validated and froze at submit, opaque to the queue, which
-- hands it back to the planner's execute(). plan_version lets a later planner read plans an
-- earlier release froze. The agent/pattern/agents/options/input columns stay: the API shows
-- them (docs/API.md), and an instance of the previous release still executes from them.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS plan jsonb;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS plan_version integer;

-- Version 1 of the agents planner's plan is exactly those columns.
UPDATE runs
   SET plan = jsonb_build_object('agent', agent, 'pattern', pattern, 'agents', agents, 'options', options, 'input', input),
       plan_version = 1
 WHERE plan IS NULL;

-- During a rolling upgrade an instance of the previous release still inserts runs without a
-- plan: fill it from the columns (a BEFORE trigger runs ahead of the NOT NULL checks). A later
-- migration drops this once no release that needs it is deployed.
CREATE OR REPLACE FUNCTION runs_plan_from_columns() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.plan IS NULL THEN
    NEW.plan := jsonb_build_object('agent', NEW.agent, 'pattern', NEW.pattern, 'agents', NEW.agents, 'options', NEW.options, 'input', NEW.input);
    NEW.plan_version := 1;
  END IF;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS runs_plan_fill ON runs;
CREATE TRIGGER runs_plan_fill BEFORE INSERT ON runs FOR EACH ROW EXECUTE FUNCTION runs_plan_from_columns();

ALTER TABLE runs ALTER COLUMN plan SET NOT NULL;
ALTER TABLE runs ALTER COLUMN plan_version SET NOT NULL;
