# Fixture overlay: replaces the greeting the app prints (and so the app's store path and layer).
{
  # text: the new greeting.
  text ? "hello from the greeting overlay"
}:
final: prev: {
  greeting = text;
}
