// __NAME__: an express app. Listens on $PORT (the watchdog sets it) and stops cleanly on SIGTERM.
import express from "express";

const app = express();
app.use(express.text({ type: "*/*" }));

app.use((req, res) => {
  res.json({
    function: "__NAME__",
    message: "Hello from __NAME__",
    path: req.path,
    received: req.body ?? "",
  });
});

const server = app.listen(Number(process.env.PORT ?? 8081));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
