// Setup file of the unit and e2e projects: after every test, one turn of the event loop. Many tests run child
// processes synchronously (spawnSync); a file of such tests ran for 60 s and more without the worker ever reading
// vitest's replies, and the RPC call made before them timed out ("Timeout calling onTaskUpdate": the run fails
// although every test passed). A turn per test keeps any such stretch to one test's length.
import { afterEach } from "vitest";

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
