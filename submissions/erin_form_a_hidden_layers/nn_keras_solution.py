# Erin Walsh
# nn_keras_solution.py

import numpy as np
import tensorflow as tf


def create_and_train_model(training_inputs, training_labels, layers,
                           units_per_layer, epochs, hidden_activations):
    number_of_classes = int(np.max(training_labels)) + 1
    input_shape = training_inputs[0].shape

    model = tf.keras.Sequential()
    model.add(tf.keras.Input(shape=input_shape))

    # the input layer is just the data, so every other layer but the output
    # is a hidden layer. If the lists run out, keep using the last entry.
    for i in range(layers - 1):
        j = min(i, len(units_per_layer) - 1)
        model.add(tf.keras.layers.Dense(units_per_layer[j],
                                        activation=hidden_activations[j]))

    model.add(tf.keras.layers.Dense(number_of_classes, activation='softmax'))
    model.compile(optimizer='adam',
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                  metrics=['accuracy'])
    model.fit(training_inputs, training_labels, epochs=epochs, verbose=0)
    return model


def test_model(model, test_inputs, test_labels, ints_to_labels):
    nn_outputs = model.predict(test_inputs, verbose=0)
    total = 0
    number_of_objects = len(test_inputs)

    for i in range(number_of_objects):
        nn_output = nn_outputs[i].flatten()
        actual = int(np.asarray(test_labels[i]).flatten()[0])
        predicted = int(np.argmax(nn_output))

        (indices,) = np.nonzero(nn_output == nn_output[predicted])
        if actual in indices:
            accuracy = 1.0 / len(indices)
        else:
            accuracy = 0.0
        total = total + accuracy

        print("ID=%5d, predicted=%10s, true=%10s, accuracy=%4.2f" %
              (i, ints_to_labels[predicted], ints_to_labels[actual], accuracy))

    classification_accuracy = total / number_of_objects
    print("classification accuracy=%6.4f" % classification_accuracy)
    return classification_accuracy
