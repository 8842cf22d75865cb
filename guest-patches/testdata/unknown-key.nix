# A typo'd host-side key: the wrapper must name it.
{
  netwrok.ip = "10.101.0.50";
  configuration = { ... }: { };
}
