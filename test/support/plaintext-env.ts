/**
 * Tests speak plaintext gRPC unless they test TLS itself (test/security), which passes its own
 * credentials: GRAPEVINE_PLAINTEXT=true makes the typed clients and every process a test spawns
 * (roles and terminal commands inherit the environment) choose plaintext explicitly.
 */
process.env.GRAPEVINE_PLAINTEXT = 'true';
