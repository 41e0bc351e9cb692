module Dqn.Fun.Tests.TensorBoardTests

open System
open System.Buffers.Binary
open System.IO
open Expecto
open Dqn.Fun

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit: the reference the event file's checksums are
/// held to.
let private crc32c (data: ReadOnlySpan<byte>) =
    let mutable crc = 0xFFFFFFFFu
    for b in data do
        crc <- crc ^^^ uint32 b
        for _ in 1..8 do
            crc <- if crc &&& 1u <> 0u then (crc >>> 1) ^^^ 0x82F63B78u else crc >>> 1
    ~~~crc

/// TFRecord's masked CRC: rotate right by 15 bits and add 0xa282ead8.
let private masked (crc: uint32) = ((crc >>> 15) ||| (crc <<< 17)) + 0xa282ead8u

/// The records of a TFRecord file, each checked: 8-byte length, masked CRC of the length, data, masked CRC of the data.
let private records (path: string) =
    let bytes = File.ReadAllBytes path
    let mutable at = 0
    [ while at < bytes.Length do
          Expect.isTrue (bytes.Length - at >= 16) $"a truncated record at byte {at}"
          let lengthBytes = ReadOnlySpan(bytes, at, 8)
          let length = int (BinaryPrimitives.ReadUInt64LittleEndian lengthBytes)
          Expect.equal (BinaryPrimitives.ReadUInt32LittleEndian(ReadOnlySpan(bytes, at + 8, 4))) (masked (crc32c lengthBytes)) "BinaryPrimitives.ReadUInt32LittleEndian(ReadOnlySpan(byte..."
          let data = ReadOnlySpan(bytes, at + 12, length)
          Expect.equal (BinaryPrimitives.ReadUInt32LittleEndian(ReadOnlySpan(bytes, at + 12 + length, 4))) (masked (crc32c data)) "BinaryPrimitives.ReadUInt32LittleEndian(ReadOnlySpan(byte..."
          yield Tensorboard.Event.Parser.ParseFrom(data.ToArray())
          at <- at + 16 + length ]

let private withFolder (f: string -> unit) =
    let dir = Path.Combine(Path.GetTempPath(), $"dqnfun-tb-{Guid.NewGuid():N}")
    try
        f dir
    finally
        if Directory.Exists dir then Directory.Delete(dir, true)

let private episode step loss =
    EpisodeEnded
        { Step = step
          Episode = 3
          Return = 123.0
          Length = 123
          Epsilon = 0.25
          Loss = loss
          MeanQ = (if Double.IsNaN loss then nan else 17.5)
          Updates = 100L
          StepsPerSecond = 4000.0 }

[<Tests>]
let tests =
    testList "TensorBoard" [
        testCase "the event file holds CRC-checked records with CleanRL's tags, steps and values, and no scalar for a missing loss" <| fun () ->
            withFolder (fun dir ->
                let w = TensorBoardWriter(dir)
                w.Write(episode 500L nan)
                w.Write(episode 1500L 0.5)
                w.Write(Evaluated { Step = 2500L; MeanReturn = 480.0; StdReturn = 12.5; Returns = [| 480.0 |]; Lengths = [| 480 |] })
                let file = Expect.wantSingle (Directory.GetFiles(dir, "events.out.tfevents.*")) "Directory.GetFiles(dir, \"events.out.tfevents.*\")"
                match records file with
                | header :: scalars ->
                    Expect.equal header.FileVersion "brain.Event:2" "header.FileVersion"
                    let values =
                        [ for e in scalars do
                              let v = Expect.wantSingle e.Summary.Value "e.Summary.Value"
                              v.Tag, e.Step, v.SimpleValue ]
                    let expected =
                        [ "charts/episodic_return", 500L, 123.0f
                          "charts/episodic_length", 500L, 123.0f
                          "charts/epsilon", 500L, 0.25f
                          "charts/SPS", 500L, 4000.0f
                          "charts/episodic_return", 1500L, 123.0f
                          "charts/episodic_length", 1500L, 123.0f
                          "charts/epsilon", 1500L, 0.25f
                          "charts/SPS", 1500L, 4000.0f
                          "losses/td_loss", 1500L, 0.5f
                          "losses/q_values", 1500L, 17.5f
                          "eval/episodic_return", 2500L, 480.0f
                          "eval/episodic_return_std", 2500L, 12.5f ]
                    Expect.equal values expected "values"
                | [] -> failtest "the event file is empty")

        testCase "a corrupted byte fails the record's checksum" <| fun () ->
            withFolder (fun dir ->
                let w = TensorBoardWriter(dir)
                w.Scalar("charts/x", 1.0, 7L)
                let file = Expect.wantSingle (Directory.GetFiles(dir, "events.out.tfevents.*")) "Directory.GetFiles(dir, \"events.out.tfevents.*\")"
                Expect.equal ((records file).Length) 2 "(records file).Length"
                let bytes = File.ReadAllBytes file
                bytes[bytes.Length - 6] <- bytes[bytes.Length - 6] ^^^ 0x10uy
                File.WriteAllBytes(file, bytes)
                Expect.wantThrowsAny<Exception> (fun () -> records file |> ignore) "Exception" |> ignore)

        testCase "a step beyond TensorBoard's 32-bit field is refused naming it" <| fun () ->
            withFolder (fun dir ->
                let w = TensorBoardWriter(dir)
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> w.Scalar("charts/x", 1.0, int64 Int32.MaxValue + 1L)) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "step" "e.ParamName")
    ]
