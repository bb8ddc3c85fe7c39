--
-- not_preloaded: concord installed in a server that does not preload it.
-- Its workers need shared memory set up at server start, so every function
-- that needs them refuses with a clear error; the rest works.
--
\set VERBOSITY default
SELECT current_setting('shared_preload_libraries') = '' AS not_preloaded;
SELECT concord.create_node('n1', 'dbname=concord');
SELECT count(*) FROM concord.nodes;
SELECT concord.subscribe('n2', 'dbname=concord');
SELECT concord.drop_node();
SELECT concord.pause('n2');
SELECT count(*) FROM concord.peers;
SELECT concord.redact_dsn('host=db1 password=hunter2');
