<?php
// Cloud OS PHP runtime: the default page. Replace /srv/www with your app.
$wanted = ['pdo_mysql', 'pdo_pgsql', 'redis', 'mbstring', 'intl', 'gd', 'curl', 'xml', 'zip'];
$missing = array_values(array_filter($wanted, fn ($name) => !extension_loaded($name)));
?><!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Cloud OS PHP runtime</title>
</head>
<body>
  <h1>Cloud OS PHP runtime</h1>
  <p>PHP <?= htmlspecialchars(PHP_VERSION) ?> works. Put your app in <code>/srv/www</code>.</p>
  <p>Extensions: <?= $missing ? 'missing ' . htmlspecialchars(implode(', ', $missing)) : 'all loaded' ?></p>
</body>
</html>
