import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/e2e/**", "test/kernel/**"],
          setupFiles: ["test/yield-between-tests.ts"],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          setupFiles: ["test/yield-between-tests.ts"],
          // Each file brings up and takes down a lab of its own (test/e2e/lab.ts useLab); one file at a time
          // keeps the 2-core machine's timings sane.
          pool: "forks",
          poolOptions: { forks: { singleFork: true } },
          sequence: { concurrent: false },
          testTimeout: 600_000,
          hookTimeout: 900_000,
        },
      },
      {
        test: {
          // Virtual machines under software emulation (lab/vm/vm.sh): what the containers' shared kernel cannot
          // do (NFS). scripts/test.sh runs this project after the others, on its own: it needs both cores.
          name: "kernel",
          include: ["test/kernel/**/*.test.ts"],
          pool: "forks",
          poolOptions: { forks: { singleFork: true } },
          sequence: { concurrent: false },
          testTimeout: 900_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
