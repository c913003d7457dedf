// Prints one machine-readable summary line at the end of a Jest run: "N passed, M failed, K skipped".
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests } = results;
    const failedSuites = results.numRuntimeErrorTestSuites;
    const suites = failedSuites > 0 ? ` (${failedSuites} suites failed to run)` : "";
    console.log(`\n${numPassedTests} passed, ${numFailedTests} failed, ${numPendingTests + numTodoTests} skipped${suites}`);
  }
}
